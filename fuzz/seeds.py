#!/usr/bin/python3
"""fuzz/seeds.py: writes the seed corpora of the harnesses whose inputs are
files (fuzz/corpus/npy: .npy files made by numpy; fuzz/corpus/jsontape: JSON
lines). The network harnesses' seeds are recorded traffic (fuzz/record.lua).
Run from the repository root: /usr/bin/python3 fuzz/seeds.py"""
import io
import os

import numpy as np

os.makedirs('fuzz/corpus/npy', exist_ok=True)
os.makedirs('fuzz/corpus/jsontape', exist_ok=True)
arrs = {
    'f8_2x3': np.arange(6, dtype='<f8').reshape(2, 3),
    'f4_vec': np.arange(5, dtype='<f4'),
    'i8_fortran': np.asfortranarray(np.arange(6, dtype='<i8').reshape(3, 2)),
    'i4_3d': np.arange(8, dtype='<i4').reshape(2, 2, 2),
    'u1_scalar': np.array(7, dtype='u1'),
    'b1_empty': np.zeros((0, 3), dtype='?'),
}
for name, a in arrs.items():
    b = io.BytesIO()
    np.save(b, a)
    open('fuzz/corpus/npy/%s.npy' % name, 'wb').write(b.getvalue())
b = io.BytesIO()
np.lib.format.write_array(b, np.arange(3.0), version=(2, 0))
open('fuzz/corpus/npy/f8_v2.npy', 'wb').write(b.getvalue())

lines = {
    'records': '{"name": "alice", "age": 30, "tags": ["a", "b"], "ok": true}\n'
               '{"name": "bob", "age": 31, "tags": [], "ok": false}\n'
               '{"name": "carol", "age": null, "tags": ["c"], "ok": true}\n',
    'numbers': '[1, -2.5, 3e10, 0.1, 1E-7, 12345678901234567890, -0]\n'
               '{"x": 1.7976931348623157e308, "y": 5e-324}\n',
    'nested': '{"a": {"b": {"c": [[1, 2], [3, {"d": "e"}]]}}}\n[[[[[]]]]]\n"just a string"\n42\n',
    'outside': '{"esc": "a\\"b\\u00e9"}\n{bad json}\n{"a": 1, "a": 2}\n\n   {"sp" :  1 }  \n',
}
for name, text in lines.items():
    open('fuzz/corpus/jsontape/%s.json' % name, 'w').write(text)
