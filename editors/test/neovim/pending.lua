-- PENDING — not run by scripts/test-editors yet (run it with KHC_EDITOR_PENDING=1).
-- Needs what `khc lsp` does not do yet (issue 6): diagnostics for files outside the
-- entry file's folder (tenants/payments.khc) and hover. When the server has them,
-- add these steps to diagnostics.lua and delete this header.
package.path = os.getenv("KHC_REPO") .. "/editors/test/neovim/?.lua;" .. package.path
local H = require("harness")
local workspace = H.example("multi-tenant")
H.setup()

local buf
local ok = H.step("open tenants/payments.khc", function()
  vim.cmd("edit " .. vim.fn.fnameescape(workspace .. "/tenants/payments.khc"))
  buf = vim.api.nvim_get_current_buf()
  H.wait("the client to initialize", 10000, function()
    local c = H.clients(buf)[1]
    return c and c.initialized
  end)
end)

if ok then
  H.step("a cross-file error in tenants/payments.khc is a diagnostic", function()
    local line = vim.api.nvim_buf_get_lines(buf, 25, 26, true)[1]
    assert(line:find("workload prometheus to", 1, true), line)
    vim.api.nvim_buf_set_lines(buf, 25, 26, true, { (line:gsub("prometheus to", "prometheu to")) })
    local d = H.wait("a diagnostic", 10000, function()
      return vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })[1]
    end)
    assert(d.message:find("tenant `monitoring` has no workload `prometheu`", 1, true), d.message)
    assert(H.code(d) == "unknown-name", vim.inspect(d))
    assert(d.lnum == 25 and d.col == 48, ("at %d:%d"):format(d.lnum, d.col))
    vim.api.nvim_buf_set_lines(buf, 25, 26, true, { line })
    H.wait("the diagnostic to clear", 10000, function()
      return #vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR }) == 0
    end)
  end)

  H.step("hover on `pod-security` answers with its documentation", function()
    local result = vim.lsp.buf_request_sync(buf, "textDocument/hover", {
      textDocument = { uri = vim.uri_from_bufnr(buf) },
      position = { line = 3, character = 4 }, -- `  pod-security restricted`
    }, 5000)
    assert(result, "no answer")
    local text
    for _, r in pairs(result) do
      assert(not r.err, vim.inspect(r.err))
      local contents = r.result and r.result.contents
      text = type(contents) == "table" and (contents.value or vim.inspect(contents)) or contents
    end
    assert(text and text:lower():find("pod security", 1, true), vim.inspect(text))
  end)
end

H.finish()
