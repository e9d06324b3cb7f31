//! The khc language server over the Language Server Protocol (stdio), computed by
//! the same salsa database as `khc build`.
//!
//! * [`transport`]: its own reader thread with bounded `Content-Length`, so a
//!   malformed frame or bad JSON is answered with a JSON-RPC error and the server
//!   keeps running.
//! * [`server`]: the project model (every entry file under the workspace folders,
//!   each file mapped to the programs that include it; open buffers over disk
//!   contents), coalesced diagnostics (all queued messages are applied before
//!   computing once), and request dispatch.
//! * [`ide`]: the features as pure functions over the database: hover,
//!   completion, definition, references, rename, symbols, semantic tokens,
//!   folding, formatting and code actions.
//! * [`manifests`]: application manifests (YAML) judged as `khc eval` judges them.
//! * [`lenses`]: code lenses with the query commands' answers (`blast-radius`,
//!   `who-can`) over workloads and tenants.
//! * [`touch`]: who may touch a resource in a tenant's namespaces, for hover.

#![warn(missing_docs)]
// lsp-types keys `WorkspaceEdit::changes` by `Uri`, which clippy sees as mutable.
#![allow(clippy::mutable_key_type)]

pub mod ide;
pub mod lenses;
pub mod manifests;
pub mod server;
pub mod text;
pub mod touch;
pub mod transport;

pub use server::Server;
pub use text::{path_to_uri, position, uri_to_path};

use std::io::Write;

/// Runs the server on stdin/stdout until `exit` or the end of input.
pub fn run_stdio() -> Result<(), String> {
    let rx = transport::spawn_reader(std::io::stdin());
    let stdout = std::io::stdout();
    let mut server = Server::default();
    let out = |msgs: Vec<serde_json::Value>| -> Result<(), String> {
        let mut lock = stdout.lock();
        for m in msgs {
            transport::write_message(&mut lock, &m).map_err(|e| e.to_string())?;
        }
        lock.flush().map_err(|e| e.to_string())
    };
    loop {
        // Block for one message, then take everything already queued: edits are
        // applied together and diagnostics computed once (stale work dropped).
        let Ok(first) = rx.recv() else { return Ok(()) };
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        let (msgs, exit) = server.handle_batch(batch);
        out(msgs)?;
        if let Some(code) = exit {
            return if code == 0 { Ok(()) } else { Err("exit without shutdown".into()) };
        }
    }
}
