-- The khc language server for Neovim's built-in LSP client (Neovim 0.7 or newer).
--
--   vim.opt.runtimepath:append("/path/to/khc/editors/neovim")
--   require("khc").setup()                      -- `khc` on PATH
--   require("khc").setup({ cmd = { "/path/to/khc", "lsp" } })
--
-- Every buffer of filetype `khc` (the `*.khc` files, see ftdetect/) is attached to
-- one `khc lsp` per project root: the nearest folder above the file holding `.git`,
-- else the nearest folder (up to three levels above) holding an entry file (a
-- `*.khc` that declares a `cluster`), else the file's folder. A `yaml` buffer
-- (an application manifest, judged as `khc eval` judges it) is attached too when
-- an entry file is found up to three levels above it; `manifests = false` turns
-- that off.
--
-- Query commands (answers in a scratch buffer, in a split; the project is the
-- current file's, as for the server):
--   :KhcWhoCan VERB RESOURCE [-n NS]   khc who-can … -p PROJECT
--   :KhcReach FROM TO                  khc reach FROM TO -p PROJECT
--   :KhcBlastRadius TENANT/WORKLOAD    khc blast-radius … -p PROJECT
local M = {}

M.config = {
  cmd = { "khc", "lsp" },
  root_markers = { ".git" },
  manifests = true,
  on_attach = nil,
  capabilities = nil,
}

local clients = {} -- root dir -> client id (Neovim 0.7, which has no vim.lsp.start)

-- The nearest folder (up to three levels above PATH) holding an entry file, or nil.
local function entry_dir(path)
  local candidate = vim.fn.fnamemodify(path, ":p:h")
  for _ = 0, 3 do
    for _, file in ipairs(vim.fn.glob(candidate .. "/*.khc", false, true)) do
      for _, line in ipairs(vim.fn.readfile(file, "", 200)) do
        if line:match("^%s*cluster%s") then
          return candidate
        end
      end
    end
    local parent = vim.fn.fnamemodify(candidate, ":h")
    if parent == candidate then
      break
    end
    candidate = parent
  end
  return nil
end

local function root_dir(path)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  for _, marker in ipairs(M.config.root_markers) do
    local found = vim.fn.finddir(marker, dir .. ";")
    if found == "" then
      found = vim.fn.findfile(marker, dir .. ";")
    end
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h:h")
    end
  end
  return entry_dir(path) or dir
end

--- Attaches buffer `buf` to the khc server of its project, starting it if needed.
function M.attach(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local name = vim.api.nvim_buf_get_name(buf)
  if name == "" then
    return nil
  end
  if vim.fn.executable(M.config.cmd[1]) ~= 1 then
    vim.notify_once(
      ("khc: %q is not executable; install khc or pass cmd = { '/path/to/khc', 'lsp' } to require('khc').setup()"):format(M.config.cmd[1]),
      vim.log.levels.ERROR
    )
    return nil
  end
  local root = root_dir(name)
  local config = {
    name = "khc",
    cmd = M.config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    on_attach = M.config.on_attach,
    capabilities = M.config.capabilities,
  }
  if vim.lsp.start then -- Neovim 0.8+: reuses a client with the same name and root
    return vim.lsp.start(config, { bufnr = buf })
  end
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil or vim.lsp.client_is_stopped(id) then
    id = vim.lsp.start_client(config)
    clients[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(buf, id)
  end
  return id
end

--- The project the query commands ask about: the folder holding the entry file
--- above the current buffer's file, else its project root, else the working
--- directory.
local function project()
  if vim.b.khc_project then -- an answer's buffer: the project it was asked about
    return vim.b.khc_project
  end
  local name = vim.api.nvim_buf_get_name(0)
  if name == "" then
    return vim.fn.getcwd()
  end
  return entry_dir(name) or root_dir(name)
end

--- Runs `khc --color never ARGS… -p PROJECT` and shows what it printed (stdout,
--- then stderr) in a scratch buffer named after the command, in a split; returns
--- the buffer. A second run of the same command reuses its buffer.
function M.query(args)
  local dir = project()
  local cmd = { M.config.cmd[1], "--color", "never" }
  vim.list_extend(cmd, args)
  vim.list_extend(cmd, { "-p", dir })
  if vim.fn.executable(cmd[1]) ~= 1 then
    vim.notify(("khc: %q is not executable"):format(cmd[1]), vim.log.levels.ERROR)
    return nil
  end
  local out = vim.fn.systemlist(cmd)
  local status = vim.v.shell_error
  local title = "khc://" .. table.concat(args, " ")
  local buf = vim.fn.bufnr(title)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true) -- unlisted scratch buffer
    vim.api.nvim_buf_set_name(buf, title)
    vim.bo[buf].bufhidden = "hide"
  end
  if vim.fn.bufwinnr(buf) == -1 then
    vim.cmd("split")
    vim.api.nvim_win_set_buf(0, buf)
  else
    vim.cmd(vim.fn.bufwinnr(buf) .. "wincmd w")
  end
  vim.b[buf].khc_project = dir
  vim.bo[buf].modifiable = true
  if status ~= 0 then
    table.insert(out, ("(khc exited with status %d)"):format(status))
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, out)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  return buf
end

local function query_command(name, sub, nargs, usage)
  vim.api.nvim_create_user_command(name, function(o)
    local args = { sub }
    vim.list_extend(args, o.fargs)
    M.query(args)
  end, { nargs = nargs, desc = usage, force = true })
end

--- Sets the options (see M.config) and attaches every `khc` buffer, present and future.
--- Also detects the filetype itself, in case ftdetect/ was not loaded (the
--- runtimepath changed after startup).
function M.setup(opts)
  M.config = vim.tbl_extend("force", M.config, opts or {})
  local group = vim.api.nvim_create_augroup("khc_lsp", { clear = true })
  query_command("KhcWhoCan", "who-can", "+", "khc who-can VERB RESOURCE [-n NS]: who may do it")
  query_command("KhcReach", "reach", "+", "khc reach FROM TO: may FROM connect to TO")
  query_command("KhcBlastRadius", "blast-radius", 1, "khc blast-radius TENANT/WORKLOAD")
  vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
    group = group,
    pattern = "*.khc",
    callback = function(args)
      if vim.bo[args.buf].filetype ~= "khc" then
        vim.bo[args.buf].filetype = "khc"
      end
    end,
  })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "khc",
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  if M.config.manifests then
    vim.api.nvim_create_autocmd("FileType", {
      group = group,
      pattern = "yaml",
      callback = function(args)
        local name = vim.api.nvim_buf_get_name(args.buf)
        if name ~= "" and entry_dir(name) then
          M.attach(args.buf)
        end
      end,
    })
  end
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.api.nvim_buf_get_name(buf):match("%.khc$") then
      if vim.bo[buf].filetype ~= "khc" then
        vim.bo[buf].filetype = "khc" -- fires FileType, which attaches
      else
        M.attach(buf)
      end
    end
  end
end

return M
