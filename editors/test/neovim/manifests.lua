-- Headless Neovim: an application manifest (apps/payments/debug.yaml, a
-- Deployment in the payments tenant's namespace) opened in a khc project gets
-- `khc eval`'s finding on `hostNetwork: true` (message, line and column), and
-- the same diagnostic as VS Code shows.
package.path = os.getenv("KHC_REPO") .. "/editors/test/neovim/?.lua;" .. package.path
local H = require("harness")
local workspace = H.example("multi-tenant")
H.setup()

H.step("a Deployment YAML in a tenant's folder: the hostNetwork finding on its field", function()
  vim.cmd("edit " .. vim.fn.fnameescape(workspace .. "/apps/payments/debug.yaml"))
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.bo[buf].filetype == "yaml", "filetype is " .. vim.bo[buf].filetype)
  local want = "hostNetwork must not be true (pod-security enforce restricted)"
  local d = H.wait("the hostNetwork diagnostic", 15000, function()
    for _, d in ipairs(vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })) do
      if d.message == want then
        return d
      end
    end
  end)
  local line = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, true)[1]
  assert(line == "      hostNetwork: true", ("at line %d: %q"):format(d.lnum, line))
  assert(d.col == 6 and d.end_col == 23, ("columns %d-%d"):format(d.col, d.end_col))
  assert(H.code(d) == "manifest", vim.inspect(d))
  assert(d.source == "khc eval", vim.inspect(d))
end)

H.finish()
