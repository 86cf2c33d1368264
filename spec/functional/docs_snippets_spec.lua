-- Functional spec: every ```lua block of README.md and docs/ (the pages and
-- the API reference's @usage examples) runs as written. Each block runs alone in a fresh bin/ldask process, in its own
-- empty temporary directory, under a timeout; a block that errors fails with
-- the file and line of the block and the program's output. The block is
-- written after as many blank lines as precede it in its page, so a line
-- number in the error is the line of the page. Fragments that are not Lua a
-- user would paste (output, shell, signatures) use other fences.
local helpers = require "helpers"

local TIMEOUT = 120 -- seconds per snippet

-- Returns the snippets of the file at PATH: a list of { line = first code
-- line, code = text }.
local function lua_blocks(path)
  local f = assert(io.open(path, "rb"))
  local blocks, cur, fenced, n = {}, nil, false, 0
  for line in f:lines() do
    n = n + 1
    if fenced then -- inside a block: any fence closes it
      if line:match("^%s*```%s*$") then
        if cur then blocks[#blocks + 1] = cur end
        cur, fenced = nil, false
      elseif cur then
        cur.lines[#cur.lines + 1] = line
      end
    elseif line:match("^%s*```") then
      fenced = n
      if line:match("^%s*```lua%s*$") then cur = { line = n + 1, lines = {} } end
    end
  end
  f:close()
  assert(not fenced, path .. ":" .. tostring(fenced) .. ": a ``` block is not closed")
  for _, b in ipairs(blocks) do b.code = table.concat(b.lines, "\n") .. "\n" end
  return blocks
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

local root = sh("cd " .. helpers.shell_quote(helpers.root) .. " && pwd"):gsub("\n$", "")
local ldask = sh("realpath " .. helpers.shell_quote(helpers.ldask)):gsub("\n$", "")

local pages = { "README.md" }
-- docs/api/: the @usage examples of the API reference
for name in sh("cd " .. helpers.shell_quote(root) .. " && ls docs/*.md docs/api/*.md docs/api/*/*.md"):gmatch("[^\n]+") do
  pages[#pages + 1] = name
end

describe("the docs' Lua snippets", function()
  it("are found (README.md and docs/*.md have ```lua blocks)", function()
    local n = 0
    for _, page in ipairs(pages) do n = n + #lua_blocks(root .. "/" .. page) end
    assert.is_true(n >= 10, "only " .. n .. " snippets found")
  end)

  for _, page in ipairs(pages) do
    for _, b in ipairs(lua_blocks(root .. "/" .. page)) do
      local where = page .. ":" .. b.line
      it(where .. " runs as written", function()
        local dir = helpers.tmpdir() .. "/snippet-" .. page:gsub("[/.]", "_") .. "-" .. b.line
        sh("rm -rf " .. helpers.shell_quote(dir) .. " && mkdir -p " .. helpers.shell_quote(dir))
        -- the file is named after the page and padded so that error lines
        -- are the page's lines
        local file = dir .. "/" .. page:gsub("/", "_") .. ".lua"
        local f = assert(io.open(file, "wb"))
        f:write(string.rep("\n", b.line - 1), b.code)
        f:close()
        local body, rc = helpers.run_sh(string.format("cd %s && timeout -k 5 %d %s %s 2>&1 </dev/null",
          helpers.shell_quote(dir), TIMEOUT, helpers.shell_quote(ldask), helpers.shell_quote(file)))
        local why = rc == 124 and ("timed out after " .. TIMEOUT .. " s") or ("exit code " .. tostring(rc))
        assert(rc == 0, string.format("the snippet at %s fails (%s):\n%s", where, why, body))
        sh("rm -rf " .. helpers.shell_quote(dir))
      end)
    end
  end
end)
