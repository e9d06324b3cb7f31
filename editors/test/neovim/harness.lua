-- Shared setup of the headless Neovim tests (run by scripts/test-editors as
-- `nvim --headless --clean -u NONE -c "luafile SPEC"`): a copy of the example in a
-- temp dir, editors/neovim on the runtimepath, require("khc").setup() with the
-- khc under test. Works on Neovim 0.7 (Debian 12) and newer.
local H = {}
local repo = assert(os.getenv("KHC_REPO"), "KHC_REPO is not set (run through scripts/test-editors)")
local khc = assert(os.getenv("KHC_BIN"), "KHC_BIN is not set")
local failures = 0
local started = vim.loop.hrtime()

function H.log(msg)
  io.stdout:write(msg .. "\n")
end

--- Copies examples/NAME (without generated/) to a fresh temp dir; returns its path.
function H.example(name)
  local dir = vim.fn.tempname() .. "-khc-nvim"
  vim.fn.mkdir(dir, "p")
  local src = repo .. "/examples/" .. name
  vim.fn.system({ "cp", "-r", src, dir .. "/" .. name })
  vim.fn.delete(dir .. "/" .. name .. "/generated", "rf")
  H.tmp = dir
  return dir .. "/" .. name
end

function H.setup()
  vim.opt.runtimepath:prepend(repo .. "/editors/neovim")
  vim.cmd("filetype plugin on")
  vim.cmd("syntax on")
  require("khc").setup({ cmd = { khc, "lsp" } })
end

--- Waits up to MS for FN() to be truthy; returns its value or errors with WHAT.
function H.wait(what, ms, fn)
  local value
  local ok = vim.wait(ms, function()
    value = fn()
    return value and true or false
  end, 50)
  if not ok then
    error(("timed out after %d ms waiting for %s"):format(ms, what), 2)
  end
  return value
end

function H.clients(buf)
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ bufnr = buf })
  end
  return vim.tbl_values(vim.lsp.buf_get_clients(buf))
end

local function all_clients()
  return vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
end

--- The LSP code of a vim.diagnostic entry (0.8+ sets `code`; 0.7 keeps it in user_data).
function H.code(d)
  return d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
end

--- The diagnostics of a buffer that are not hints: khc publishes acknowledged
--- warnings (`# khc: allow CODE — REASON`) as hints.
function H.unacknowledged(buf)
  return vim.diagnostic.get(buf, { severity = { min = vim.diagnostic.severity.INFO } })
end

--- Runs one named step; a failure is reported and counted.
function H.step(name, fn)
  local t = vim.loop.hrtime()
  local ok, err = xpcall(fn, debug.traceback)
  local ms = math.floor((vim.loop.hrtime() - t) / 1e6)
  if ok then
    H.log(("ok - %s (%d ms)"):format(name, ms))
  else
    failures = failures + 1
    H.log(("not ok - %s\n%s"):format(name, err))
  end
  return ok
end

--- Stops the clients, removes the temp dir and exits with the result.
function H.finish()
  for _, c in pairs(all_clients()) do
    vim.lsp.stop_client(c.id)
  end
  vim.wait(2000, function()
    return #all_clients() == 0
  end, 50)
  if H.tmp then
    vim.fn.delete(H.tmp, "rf")
  end
  local ms = math.floor((vim.loop.hrtime() - started) / 1e6)
  if failures > 0 then
    H.log(("%d step(s) failed (%d ms)"):format(failures, ms))
    vim.cmd("cquit 1")
  else
    H.log(("all steps passed in %d ms (%s)"):format(ms, vim.fn.execute("version"):match("NVIM v[%d.]+")))
    vim.cmd("qall!")
  end
end

return H
