//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `postgres` on a
//! free port of 127.0.0.1 (trust authentication, user `postgres`), a database per test.
//!
//! `postgres` runs under a small `sh` keeper whose standard input is a pipe from this
//! process. Closing it (dropping the [`Cluster`], or this process ending in any way, even
//! by SIGKILL) makes the keeper stop PostgreSQL (fast shutdown) and remove the directory,
//! so the cluster shared through a static never outlives the test binary. Writing `keep`
//! stops PostgreSQL and keeps the directory, for [`Cluster::stop`] and
//! [`Cluster::restart`].
//!
//! PostgreSQL refuses to run as root: when the tests are root, the directory is handed to
//! the `postgres` system user (or `nobody`) and the server binaries run as that user
//! through `setpriv`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Runs `"$@"` (PostgreSQL) until a line or EOF arrives on standard input, then stops it
/// with SIGINT (fast shutdown) and, unless the line was `keep`, removes `$1`.
const KEEPER: &str = r#"dir=$1; shift
"$@" >>"$dir/postgres.log" 2>&1 &
pid=$!
line=
read -r line || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
if [ "$line" != keep ]; then rm -rf "$dir"; fi
"#;

/// How long PostgreSQL may take to accept connections after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Cluster {
    /// The directory holding PostgreSQL's binaries (`initdb`, `postgres`, `psql`, ...).
    bin: PathBuf,
    /// The temporary directory: `data/`, the socket and `postgres.log`.
    dir: PathBuf,
    port: u16,
    /// `(uid, gid)` to run the server binaries as, when this process is root.
    run_as: Option<(u32, u32)>,
    keeper: Option<Keeper>,
    databases: AtomicU32,
}

struct Keeper {
    child: Child,
    stdin: ChildStdin,
}

/// PostgreSQL's binaries, or `None` (after a note) when they are missing and
/// `KLAXON_SKIP_POSTGRES=1` allows skipping; panics when they are missing otherwise.
pub fn binaries() -> Option<PathBuf> {
    if let Some(bin) = find_binaries() {
        return Some(bin);
    }
    if std::env::var("KLAXON_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!(
            "note: PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or \
             on PATH); KLAXON_SKIP_POSTGRES=1, so this test is skipped"
        );
        return None;
    }
    panic!(
        "PostgreSQL is not installed: no initdb under /usr/lib/postgresql/*/bin or on PATH. \
         Install Debian's postgresql package (apt-get install postgresql; scripts/test.sh \
         does it when run as root), or set KLAXON_SKIP_POSTGRES=1 to skip these tests"
    );
}

/// The newest `/usr/lib/postgresql/N/bin` with `initdb` and `postgres`, else the directory
/// of the `initdb` found on PATH (symlinks resolved).
fn find_binaries() -> Option<PathBuf> {
    let complete = |bin: &Path| bin.join("initdb").is_file() && bin.join("postgres").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let initdb = std::fs::canonicalize(dir.join("initdb")).ok()?;
        let bin = initdb.parent()?.to_path_buf();
        complete(&bin).then_some(bin)
    })
}

/// The cluster every test of this binary shares (a database each), started on first use.
/// `None` when PostgreSQL is missing and skipping is allowed.
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED.get_or_init(Cluster::start).as_ref()
}

impl Cluster {
    /// A new cluster of its own (for tests that stop and restart it); `None` when
    /// PostgreSQL is missing and skipping is allowed.
    pub fn start() -> Option<Cluster> {
        let bin = binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("klaxon-pg-")
            .tempdir()
            .expect("a temporary directory for PostgreSQL")
            .keep();
        let run_as = if id(&["-u"]) == 0 {
            let user = if Command::new("id")
                .args(["-u", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                "postgres"
            } else {
                "nobody"
            };
            let owner = (id(&["-u", user]), id(&["-g", user]));
            std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1))
                .expect("hand the cluster directory to the PostgreSQL user");
            Some(owner)
        } else {
            None
        };
        let mut cluster = Cluster {
            bin,
            dir,
            port: 0,
            run_as,
            keeper: None,
            databases: AtomicU32::new(0),
        };
        let initdb = cluster
            .server_command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        if !initdb.status.success() {
            let _ = std::fs::remove_dir_all(&cluster.dir);
            panic!(
                "initdb failed ({}):\n{}\n{}",
                initdb.status,
                String::from_utf8_lossy(&initdb.stdout),
                String::from_utf8_lossy(&initdb.stderr)
            );
        }
        // A port picked free can be taken before PostgreSQL binds it: try a few.
        for attempt in 1..=5 {
            cluster.port = free_port();
            match cluster.launch() {
                Ok(()) => return Some(cluster),
                Err(why) if attempt < 5 && why.contains("could not bind") => continue,
                Err(why) => {
                    let _ = std::fs::remove_dir_all(&cluster.dir);
                    panic!("PostgreSQL did not start on port {}: {why}", cluster.port);
                }
            }
        }
        unreachable!()
    }

    /// A new empty database; returns its URL (`postgres://postgres@127.0.0.1:PORT/NAME`).
    pub fn create_database(&self, prefix: &str) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name: String = format!("{prefix}_{n}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs one SQL command with `psql` on `database`; returns its output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-d", database, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .map_err(|e| format!("run psql: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(format!(
                "psql failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Stops PostgreSQL (fast shutdown: connections are cut) and keeps its data.
    pub fn stop(&mut self) {
        let Some(mut keeper) = self.keeper.take() else {
            return;
        };
        let _ = keeper.stdin.write_all(b"keep\n");
        let _ = keeper.stdin.flush();
        drop(keeper.stdin);
        wait_bounded(
            &mut keeper.child,
            Duration::from_secs(30),
            "PostgreSQL to stop",
        );
    }

    /// Starts PostgreSQL again on the same data and port.
    pub fn restart(&mut self) {
        assert!(self.keeper.is_none(), "restart: the cluster is running");
        self.launch()
            .unwrap_or_else(|why| panic!("PostgreSQL did not restart: {why}"));
    }

    /// The last lines of PostgreSQL's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A PostgreSQL server binary, run as the PostgreSQL user when this process is root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some((uid, gid)) => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    /// Starts `postgres` under a keeper on `self.port` and waits until it accepts
    /// connections; on failure, stops the keeper (keeping the directory) and returns the
    /// log written by this start.
    fn launch(&mut self) -> Result<(), String> {
        let log = self.dir.join("postgres.log");
        let logged_before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) as usize;
        let server = self.server_command("postgres");
        let mut keeper = Command::new("sh");
        keeper
            .arg("-c")
            .arg(KEEPER)
            .arg("klaxon-postgres-keeper")
            .arg(&self.dir)
            .arg(server.get_program())
            .args(server.get_args())
            .arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = keeper.spawn().expect("spawn the PostgreSQL keeper (sh)");
        let stdin = child.stdin.take().expect("keeper stdin");
        self.keeper = Some(Keeper { child, stdin });
        let new_log = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.get(logged_before..).unwrap_or_default().to_owned()
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let written = new_log();
            if written.contains("ready to accept connections") && self.accepting() {
                return Ok(());
            }
            // A port taken meanwhile fails at once; anything else shows by the deadline.
            if written.contains("could not bind") || Instant::now() > deadline {
                self.stop();
                return Err(format!("PostgreSQL log:\n{}", new_log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn accepting(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-t", "2", "-p"])
            .arg(self.port.to_string())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- PostgreSQL log (port {}) ----\n{}",
                self.port,
                self.log_tail(40)
            );
        }
        match self.keeper.take() {
            // Closing its stdin stops PostgreSQL and removes the directory.
            Some(mut keeper) => {
                drop(keeper.stdin);
                wait_bounded(
                    &mut keeper.child,
                    Duration::from_secs(30),
                    "PostgreSQL to stop",
                );
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

/// `id ARGS` as a number.
fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().expect("run id");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {args:?}: {output:?}"))
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn wait_bounded(child: &mut Child, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("gave up waiting for {what}; killing its keeper");
    let _ = child.kill();
    let _ = child.wait();
}
