-- Headless Neovim, built-in LSP client + editors/neovim: an error typed into
-- cluster.khc shows up in vim.diagnostic.get with its code and line; fixing it
-- clears it. Hover and diagnostics in tenants/payments.khc are in pending.lua.
package.path = os.getenv("KHC_REPO") .. "/editors/test/neovim/?.lua;" .. package.path
local H = require("harness")
local workspace = H.example("multi-tenant")
H.setup()

local buf
local ok = H.step("open cluster.khc: filetype khc, syntax, khc lsp attached", function()
  vim.cmd("edit " .. vim.fn.fnameescape(workspace .. "/cluster.khc"))
  buf = vim.api.nvim_get_current_buf()
  assert(vim.bo[buf].filetype == "khc", "filetype is " .. vim.bo[buf].filetype)
  assert(vim.bo[buf].commentstring == "# %s", "commentstring " .. vim.bo[buf].commentstring)
  local group = vim.fn.synIDattr(vim.fn.synID(1, 1, 1), "name")
  assert(group == "khcComment", "line 1 is highlighted as " .. group)
  H.wait("the client to initialize", 10000, function()
    local c = H.clients(buf)[1]
    return c and c.initialized
  end)
  -- The valid example has no diagnostics, only one hint: the `cni` warning on
  -- `api-server`, acknowledged in the source (`# khc: allow cni — …`).
  vim.wait(1000)
  assert(#H.unacknowledged(buf) == 0, vim.inspect(vim.diagnostic.get(buf)))
  local hints = vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.HINT })
  assert(#hints == 1 and H.code(hints[1]) == "cni", vim.inspect(hints))
end)

if ok then
  H.step("an error typed into cluster.khc is a diagnostic", function()
    local line = vim.api.nvim_buf_get_lines(buf, 9, 10, true)[1]
    assert(line == "  kubernetes 1.35", line)
    vim.api.nvim_buf_set_lines(buf, 9, 10, true, { "  kubernetes 1.2" })
    local d = H.wait("a diagnostic", 10000, function()
      return vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })[1]
    end)
    assert(d.message:find("khc targets Kubernetes 1.30 or later", 1, true), d.message)
    assert(H.code(d) == "invalid-value", vim.inspect(d))
    assert(d.lnum == 9 and d.col == 13, ("at %d:%d"):format(d.lnum, d.col))
    assert(d.source == "khc", vim.inspect(d))
  end)

  H.step("fixing the error clears the diagnostic", function()
    vim.api.nvim_buf_set_lines(buf, 9, 10, true, { "  kubernetes 1.35" })
    H.wait("the diagnostic to clear", 10000, function()
      return #H.unacknowledged(buf) == 0
    end)
  end)
end

H.finish()
