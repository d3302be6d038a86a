//! A worker process of a multi-process row: this same binary, started
//! with the row's `--…-worker` flag and a JSON spec. It prints `ready`
//! once set up, starts its callers at `go` on stdin, and prints `done`
//! when they all have their answer.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdout, Command, Stdio};

pub struct Worker {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    /// Starts one with `flag` and `spec`, and waits until it is ready.
    pub fn spawn(flag: &str, spec: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([flag, spec])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Self { child, stdout }
    }

    /// Tells it to start its callers.
    pub fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until its callers are done, and for it to exit.
    pub fn finish(mut self) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "done");
        assert!(self.child.wait().unwrap().success());
    }
}

/// In the worker: says it is ready, and waits for `go`.
pub fn ready_then_wait_for_go() {
    println!("ready");
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go).unwrap();
}

/// In the worker: says its callers are done.
pub fn done() {
    println!("done");
}
