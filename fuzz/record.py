#!/usr/bin/python3
"""fuzz/record.py: records real ldask traffic into the seed corpora of the
network harnesses (fuzz/corpus/{sched_ops,worker_ops,hello,frame,codec}).

A scheduler (bin/ldask-scheduler) runs behind a recording TCP proxy; two
workers and a client running fuzz/workload.lua connect through the proxy.
Every message each way is parsed (docs/protocol.md framing) and kept per
connection; the corpora are cut from it:
  sched_ops  records of the messages clients and workers sent (fz_play's
             format, docs/fuzzing.md), in windows of 24 messages after the
             workers' register-worker
  worker_ops the messages the scheduler sent a worker, in windows
  hello      each connection's first message (its hello)
  frame      raw byte streams as they crossed the proxy (first 16 KB)
  codec      the codec payloads (frames) of compute-task(s) messages
Run from the repository root after make: /usr/bin/python3 fuzz/record.py"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import hashlib

ROOT = os.getcwd()
MAX_FRAME = 4096  # frames larger than this are left out of the seeds


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Stream:
    """Reassembles messages from one direction of a connection."""

    def __init__(self):
        self.buf = b''
        self.raw = b''
        self.msgs = []

    def feed(self, data):
        self.buf += data
        if len(self.raw) < 16384:
            self.raw += data[:16384 - len(self.raw)]
        while True:
            if len(self.buf) < 4:
                return
            n = struct.unpack('<I', self.buf[:4])[0]
            if len(self.buf) < 4 + 8 * n:
                return
            lens = struct.unpack('<%dQ' % n, self.buf[4:4 + 8 * n])
            total = 4 + 8 * n + sum(lens)
            if len(self.buf) < total:
                return
            frames, off = [], 4 + 8 * n
            for ln in lens:
                frames.append(self.buf[off:off + ln])
                off += ln
            self.msgs.append((time.monotonic(), frames))
            self.buf = self.buf[total:]


conns = []  # (kind, up Stream (to the scheduler), down Stream)
lock = threading.Lock()


def pipe(src, dst, stream):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            with lock:
                stream.feed(d)
            dst.sendall(d)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def proxy(listen, target):
    while True:
        c, _ = listen.accept()
        u = socket.create_connection(('127.0.0.1', target))
        up, down = Stream(), Stream()
        conns.append((up, down))
        threading.Thread(target=pipe, args=(c, u, up), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c, down), daemon=True).start()


def op_of(header):
    i = header.find(b'\xa2op')
    if i < 0:
        return ''
    j = i + 3
    t = header[j]
    if 0xa0 <= t <= 0xbf:
        return header[j + 1:j + 1 + (t - 0xa0)].decode('latin1')
    return ''


def record(conn, frames):
    frames = [f for f in frames[:4]]
    if any(len(f) > MAX_FRAME for f in frames):
        frames = [frames[0]] + [f[:MAX_FRAME] for f in frames[1:]]
    if len(frames[0]) > 65535:
        return b''
    out = bytes([(conn & 3) | (len(frames) - 1) << 2]) + struct.pack('<H', len(frames[0])) + frames[0]
    for f in frames[1:]:
        out += struct.pack('<H', len(f)) + f
    return out


def write(dirname, data):
    d = os.path.join('fuzz/corpus', dirname)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    open(os.path.join(d, name), 'wb').write(data)


def main():
    sport, pport = free_port(), free_port()
    sched = subprocess.Popen([ROOT + '/bin/ldask-scheduler', '--port', str(sport)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', pport))
    ls.listen(16)
    threading.Thread(target=proxy, args=(ls, sport), daemon=True).start()
    addr = 'tcp://127.0.0.1:%d' % pport
    workers = [subprocess.Popen([ROOT + '/bin/ldask-worker', addr, '--nthreads', '1',
                                 '--name', 'w%d' % i], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for i in range(2)]
    try:
        time.sleep(1.0)
        rc = subprocess.call([ROOT + '/bin/ldask', 'fuzz/workload.lua', addr], timeout=120)
        time.sleep(0.5)
    finally:
        for p in workers + [sched]:
            p.terminate()
        for p in workers + [sched]:
            p.wait()
    if rc != 0:
        sys.exit('fuzz/record.py: the workload failed (exit %d)' % rc)
    with lock:
        snapshot = [(u.msgs[:], d.msgs[:], u.raw, d.raw) for u, d in conns]
    # connection kinds from their hellos
    kinds = []
    for up, down, _, _ in snapshot:
        h = up[0][1][0] if up else b''
        kinds.append('worker' if b'worker' in h else 'client' if b'client' in h else 'other')
    wk = [i for i, k in enumerate(kinds) if k == 'worker']
    cl = [i for i, k in enumerate(kinds) if k == 'client']
    print('connections:', kinds)
    # sched_ops: conn 0 the client, 1 and 2 the workers
    slot = {}
    if cl:
        slot[cl[0]] = 0
    for n, i in enumerate(wk[:2]):
        slot[i] = 1 + n
    roles = 0 | 1 << 2 | 1 << 4 | 2 << 6
    regs = b''
    events = []
    for i, s in slot.items():
        for t, frames in snapshot[i][0][1:]:  # after the hello
            if op_of(frames[0]) == 'register-worker':
                regs += record(s, frames)
            else:
                events.append((t, s, frames))
    events.sort(key=lambda e: e[0])
    for k in range(0, len(events), 24):
        body = b''.join(record(s, f) for _, s, f in events[k:k + 24])
        write('sched_ops', bytes([roles]) + regs + body)
    # worker_ops: what the scheduler sent the first worker (conn 0)
    if wk:
        down = [f for _, f in snapshot[wk[0]][1][1:]]
        for k in range(0, len(down), 16):
            body = b''.join(record(0, f) for f in down[k:k + 16])
            write('worker_ops', bytes([0]) + body)
    # hello: first messages of every connection, both ways
    for up, down, _, _ in snapshot:
        for msgs in (up, down):
            if msgs:
                h = msgs[0][1][0]
                write('hello', bytes([0x02]) + struct.pack('<BH', 0, len(h)) + h)
                write('hello', bytes([0x80]) + struct.pack('<H', len(h)) + h)
    # frame: raw streams
    for _, _, ru, rd in snapshot:
        for raw in (ru, rd):
            if raw:
                write('frame', bytes([7]) + raw)
    # codec: compute-task payloads (frame 1.. of each) and results
    for up, down, _, _ in snapshot:
        for _, frames in up + down:
            op = op_of(frames[0])
            if op in ('compute-task', 'compute-tasks', 'task-finished', 'tasks-finished', 'update-graph', 'scatter', 'run') and len(frames) > 1:
                payload = frames[1:5]
                if sum(len(f) for f in payload) > 16384:
                    continue
                data = bytes([len(payload) - 1])
                for f in payload[1:]:
                    data += struct.pack('<H', len(f))
                for f in payload[1:]:
                    data += f
                write('codec', data + payload[0])
    for d in ('sched_ops', 'worker_ops', 'hello', 'frame', 'codec'):
        p = os.path.join('fuzz/corpus', d)
        if os.path.isdir(p):
            print(d, len(os.listdir(p)), 'inputs')


if __name__ == '__main__':
    main()
