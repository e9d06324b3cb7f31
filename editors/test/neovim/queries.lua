-- :KhcWhoCan and :KhcReach print the query commands' answers into a scratch
-- buffer, the same text `khc who-can` / `khc reach` print for the project.
package.path = os.getenv("KHC_REPO") .. "/editors/test/neovim/?.lua;" .. package.path
local H = require("harness")
local workspace = H.example("multi-tenant")
H.setup()
local khc = os.getenv("KHC_BIN")

local function cli(args)
  local cmd = { khc, "--color", "never" }
  vim.list_extend(cmd, args)
  vim.list_extend(cmd, { "-p", workspace })
  return vim.fn.systemlist(cmd)
end

local function scratch()
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.bo[buf].buftype == "nofile", "a scratch buffer, not " .. vim.bo[buf].buftype)
  assert(not vim.bo[buf].modifiable, "read-only")
  return buf, vim.api.nvim_buf_get_lines(buf, 0, -1, true)
end

local ok = H.step("open tenants/payments.khc", function()
  vim.cmd("edit " .. vim.fn.fnameescape(workspace .. "/tenants/payments.khc"))
end)

if ok then
  H.step(":KhcWhoCan create pods/exec -n payments answers in a scratch buffer", function()
    local wins = #vim.api.nvim_list_wins()
    vim.cmd("KhcWhoCan create pods/exec -n payments")
    assert(#vim.api.nvim_list_wins() == wins + 1, "a split")
    local buf, lines = scratch()
    assert(vim.api.nvim_buf_get_name(buf):find("khc://who-can create pods/exec -n payments", 1, true), vim.api.nvim_buf_get_name(buf))
    assert(lines[1] == "who can create pods/exec in namespace payments:", vim.inspect(lines))
    assert(vim.deep_equal(lines, cli({ "who-can", "create", "pods/exec", "-n", "payments" })), vim.inspect(lines))
    vim.cmd("wincmd p")
  end)

  H.step(":KhcReach monitoring/prometheus payments/api answers in a scratch buffer", function()
    vim.cmd("KhcReach monitoring/prometheus payments/api")
    local _, lines = scratch()
    assert(table.concat(lines, "\n"):find("allowed: monitoring/prometheus → payments/api on 9090/TCP", 1, true), vim.inspect(lines))
    assert(vim.deep_equal(lines, cli({ "reach", "monitoring/prometheus", "payments/api" })), vim.inspect(lines))
    -- Asked again: the same buffer, no new split.
    local wins = #vim.api.nvim_list_wins()
    vim.cmd("wincmd p")
    vim.cmd("KhcReach monitoring/prometheus payments/api")
    assert(#vim.api.nvim_list_wins() == wins, "the answer's window is reused")
  end)

  H.step("asked from an answer's buffer, a query asks the same project", function()
    vim.cmd("KhcWhoCan get secrets -n payments")
    local _, lines = scratch()
    assert(vim.deep_equal(lines, cli({ "who-can", "get", "secrets", "-n", "payments" })), vim.inspect(lines))
  end)

  H.step("a refused query says so in the buffer", function()
    vim.cmd("wincmd p")
    vim.cmd("KhcReach nobody/here payments/api")
    local _, lines = scratch()
    assert(lines[#lines]:match("^%(khc exited with status %d+%)$"), vim.inspect(lines))
  end)
end

H.finish()
