//! Load benchmark: durable grant redemptions per second over HTTP, on loopback, with the
//! SQLite store, beside the raw crypto floor of a redemption measured in the same run.
//!
//! ```text
//! cargo run --release -p twin-agency --example load -- [--grants N] [--concurrency C]
//! ```
//!
//! What it does (see docs/benchmarks.md, "Agency: durable grant redemptions over HTTP"):
//!
//! 1. makes a sandbox agency in a temporary folder (`home::init`, `SqliteStore::open`);
//! 2. before any timing, makes every grant (M pairwise citizen keys; 2 fields,
//!    single-use) and the signed headers of its `POST /v1/grants` (`sign_request`);
//! 3. **floor**: `verify_request` + `UnverifiedGrant::parse` + `verify` (two Ed25519
//!    verifications and one HPKE open), nothing else, single-threaded;
//! 4. **HTTP**: the real `twin_agency::http::serve` on 127.0.0.1:0, in this process on its
//!    own tokio runtime (2 worker threads by default, like `twin-agency serve` on this
//!    2-core machine); a client runtime fires the grants over C HTTP/1.1 keep-alive
//!    connections (one reqwest client per connection), each waiting for its answer before
//!    sending the next. Every answer must be `201`;
//! 5. profile lines, same run: CPU per redemption during the HTTP run by thread (server
//!    runtime, store writer, load client) and what other processes used; the service
//!    without HTTP (`Agency::check_signed` + `Agency::redeem` from C threads); the store
//!    alone (`use_nonce` + `redeem`, the two durable writes of a redemption, from C
//!    threads, no crypto); the same two writes unbatched (one thread: the fixed cost of
//!    each kind of group commit); and a bare 4 KiB write + fsync in the store's folder;
//! 6. durability: reopens the store from disk and checks that every grant is there.
//!
//! CPU times come from `/proc` (Linux): `/proc/self/task/*/schedstat` per thread,
//! `/proc/self/stat` for the process, `/proc/stat` for the machine.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use twin_agency::home::{self, InitOptions};
use twin_agency::http::{Limits, serve};
use twin_agency::{Agency, Clock, SystemClock};
use twin_agency_store::{AgencyStore, NewGrant, SqliteStore};
use twin_protocol::{
    AgencyCard, AgencyView, GrantBuilder, KeyPair, SignedHeaders, UnverifiedGrant, sign_request,
    verify_request,
};
use twin_types::{FieldPath, GrantId};
use zeroize::Zeroizing;

#[derive(Debug, Parser)]
#[command(about = "Durable grant redemptions per second over HTTP, beside the crypto floor")]
struct Args {
    /// Grants redeemed over HTTP, timed
    #[arg(long, default_value_t = 20_000)]
    grants: usize,
    /// Concurrent keep-alive connections (and threads for the profile lines)
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Distinct citizens (pairwise keys) the grants come from
    #[arg(long, default_value_t = 200)]
    citizens: usize,
    /// Grants per connection sent before timing starts
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Grants redeemed by each profile line (service without HTTP; store alone)
    #[arg(long, default_value_t = 5_000)]
    profile: usize,
    /// Iterations of the single-threaded crypto floor
    #[arg(long, default_value_t = 3_000)]
    floor: usize,
    /// Worker threads of the server's runtime
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Worker threads of the client's runtime
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Log as `twin-agency serve` does (JSON lines, level info), into a sink
    #[arg(long)]
    log: bool,
}

const PURPOSE: &str = "pension-credit-check";
const PATH: &str = "/v1/grants";
/// Unbatched store writes timed (one thread, one write in each commit).
const SERIAL: usize = 300;

/// One redemption to send: the grant and its signed request.
struct Item {
    id: GrantId,
    body: Vec<u8>,
    headers: SignedHeaders,
}

fn now() -> i64 {
    SystemClock.now()
}

fn nonce() -> String {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).expect("the OS random source");
    hex::encode(n)
}

/// Makes `n` grants from `citizens`, with their signed headers, on two threads.
fn make_items(card: &AgencyCard, citizens: &[KeyPair], n: usize, first: usize) -> Vec<Item> {
    let dob: FieldPath = "personal.date_of_birth".parse().expect("a field path");
    let postcode: FieldPath = "personal.address.postcode".parse().expect("a field path");
    let make = |i: usize| {
        let citizen = &citizens[(first + i) % citizens.len()];
        let t = now();
        let grant = GrantBuilder::new(card, PURPOSE, 7 * 86_400)
            .field(
                dob.clone(),
                json!(format!("19{:02}-0{}-1{}", i % 100, 1 + i % 9, i % 10)),
            )
            .field(postcode.clone(), json!("LS1 4AP"))
            .single_use(true)
            .build(citizen, t)
            .expect("a grant");
        let headers = sign_request("POST", PATH, &grant.bytes, t, &nonce(), citizen);
        Item {
            id: grant.claims.grant_id,
            body: grant.bytes,
            headers,
        }
    };
    let half = n / 2;
    std::thread::scope(|s| {
        let a = s.spawn(|| (0..half).map(make).collect::<Vec<_>>());
        let b = s.spawn(|| (half..n).map(make).collect::<Vec<_>>());
        let mut out = a.join().expect("grant maker");
        out.extend(b.join().expect("grant maker"));
        out
    })
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// CPU seconds of this process's live threads, by group of thread names (from
/// `/proc/self/task/*/schedstat`: nanoseconds on a CPU).
fn thread_cpu() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let ns: f64 = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        let group = match name.trim() {
            n if n.starts_with("srv") => "server (tokio workers + blocking pool)",
            n if n.starts_with("cli") => "load client",
            n if n.starts_with("agency-store") => "store writer thread",
            _ => "other",
        };
        *out.entry(group.to_owned()).or_insert(0.0) += ns * 1e-9;
    }
    out
}

/// CPU seconds (user + system) of this whole process, finished threads included.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field(11) + field(12)) * 0.01
}

/// CPU seconds all processes of the machine spent busy (not idle, not waiting for I/O).
fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| f.get(i).copied().unwrap_or(0.0))
        .sum::<f64>()
        * 0.01
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn cpu_delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

/// The crypto floor of one redemption: the request signature (Ed25519) and the grant
/// (parse, Ed25519, HPKE open), with no memory of nonces or grants. Single-threaded.
fn floor(agency: &Agency, items: &[Item], iters: usize) -> (Duration, Duration) {
    let keys: Vec<(String, &KeyPair)> = agency
        .identity
        .keys
        .iter()
        .map(|(k, p)| (k.clone(), p.as_ref()))
        .collect();
    let view = AgencyView {
        card: &agency.identity.card,
        keys: &keys,
        limits: twin_protocol::Limits::default(),
    };
    let mut samples = Vec::with_capacity(iters);
    let t = now();
    let run = |item: &Item| {
        let v = verify_request("POST", PATH, &item.body, &item.headers, t, 300, |_| false)
            .expect("a valid request signature");
        let g = UnverifiedGrant::parse(&item.body, &view.limits)
            .and_then(|g| g.verify(&view, t, |_, _| false, |_, _| false))
            .expect("a valid grant");
        std::hint::black_box((v, g));
    };
    for item in items.iter().take(50) {
        run(item);
    }
    for i in 0..iters {
        let item = &items[i % items.len()];
        let s = Instant::now();
        run(item);
        samples.push(s.elapsed());
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    (quantile(&samples, 0.5), mean)
}

/// Runs `work` over `n` items from `threads` threads; returns the wall time and the
/// per-call latencies, sorted.
fn threaded<T: Sync>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) + Sync,
) -> (Duration, Vec<Duration>) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut all: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let s = Instant::now();
                        work(item);
                        lat.push(s.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker"))
            .collect()
    });
    let wall = started.elapsed();
    all.sort();
    (wall, all)
}

fn fsync_floor(dir: &Path, n: usize) -> (Duration, Duration) {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .expect("a probe file");
    let block = [7u8; 4096];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        f.write_all(&block).expect("write");
        f.sync_all().expect("fsync");
        samples.push(s.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    samples.sort();
    (quantile(&samples, 0.5), quantile(&samples, 0.99))
}

struct HttpRun {
    wall: Duration,
    latencies: Vec<Duration>,
    cpu: BTreeMap<String, f64>,
    process_cpu: f64,
    machine_busy: f64,
}

/// Fires `timed` at `base` over `c` connections after `warm` (not timed) on each.
fn http_run(
    base: &str,
    warm: Vec<Item>,
    timed: Vec<Item>,
    c: usize,
    client_threads: usize,
) -> HttpRun {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .thread_name("cli")
        .enable_all()
        .build()
        .expect("the client runtime");
    let url = format!("{base}{PATH}");
    rt.block_on(async move {
        let clients: Vec<reqwest::Client> = (0..c)
            .map(|_| {
                reqwest::Client::builder()
                    .http1_only()
                    .no_proxy()
                    .tcp_nodelay(true)
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(60))
                    .build()
                    .expect("a client")
            })
            .collect();
        let send = |client: reqwest::Client, url: String, item: &Item| {
            let req = client
                .post(url)
                .header("content-type", "application/octet-stream")
                .header("content-digest", item.headers.content_digest.as_str())
                .header("signature-input", item.headers.signature_input.as_str())
                .header("signature", item.headers.signature.as_str())
                .body(item.body.clone());
            async move {
                let r = req.send().await.map_err(|e| format!("no answer: {e}"))?;
                let status = r.status().as_u16();
                let body = r.bytes().await.map_err(|e| format!("no body: {e}"))?;
                if status == 201 {
                    Ok(())
                } else {
                    Err(format!(
                        "answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    ))
                }
            }
        };
        // Warm-up: opens every connection and sends a few grants on each, not timed.
        let warm = Arc::new(warm);
        let mut tasks = Vec::new();
        for (k, client) in clients.iter().enumerate() {
            let (client, url, warm) = (client.clone(), url.clone(), Arc::clone(&warm));
            tasks.push(tokio::spawn(async move {
                for item in warm.iter().skip(k).step_by(c) {
                    send(client.clone(), url.clone(), item).await?;
                }
                Ok::<_, String>(())
            }));
        }
        for t in tasks {
            if let Err(e) = t.await.expect("a warm-up task") {
                panic!("warm-up: a redemption was refused: {e}");
            }
        }
        // Timed.
        let timed = Arc::new(timed);
        let next = Arc::new(AtomicUsize::new(0));
        let cpu_before = thread_cpu();
        let process_before = process_cpu();
        let machine_before = machine_busy();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client in &clients {
            let (client, url, timed, next) = (
                client.clone(),
                url.clone(),
                Arc::clone(&timed),
                Arc::clone(&next),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = timed.get(i) else { break };
                    let s = Instant::now();
                    send(client.clone(), url.clone(), item).await?;
                    lat.push(s.elapsed());
                }
                Ok::<_, String>(lat)
            }));
        }
        let mut latencies = Vec::new();
        let mut failures = Vec::new();
        for t in tasks {
            match t.await.expect("a client task") {
                Ok(l) => latencies.extend(l),
                Err(e) => failures.push(e),
            }
        }
        let wall = started.elapsed();
        let cpu = cpu_delta(&cpu_before, &thread_cpu());
        let process_cpu = process_cpu() - process_before;
        let machine_busy = machine_busy() - machine_before;
        if !failures.is_empty() {
            panic!(
                "{} of {c} connections stopped on an answer other than 201; first: {}",
                failures.len(),
                failures[0]
            );
        }
        latencies.sort();
        HttpRun {
            wall,
            latencies,
            cpu,
            process_cpu,
            machine_busy,
        }
    })
}

fn main() {
    let args = Args::parse();
    let c = args.concurrency.max(1);
    if args.log {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::sink)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .init();
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let identity = home::init(
        dir.path(),
        &InitOptions {
            name: "Sandbox Benefits".into(),
            id: None,
            endpoint: "http://127.0.0.1:0".into(),
            sandbox: true,
            anchor: None,
            purposes: None,
            record_types: vec!["benefit-award/v1".into(), "identity-link/v1".into()],
            valid_days: 365,
        },
        now(),
    )
    .expect("a sandbox agency");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("the store"));
    let agency = Arc::new(Agency::new(
        identity,
        Arc::clone(&store) as Arc<dyn AgencyStore>,
        Arc::new(SystemClock),
    ));
    let card = agency.identity.card.clone();

    // --- everything signed before any timing
    let made = Instant::now();
    let citizens: Vec<KeyPair> = (0..args.citizens.max(1))
        .map(|_| {
            let mut root = [0u8; 32];
            getrandom::fill(&mut root).expect("the OS random source");
            KeyPair::pairwise(&root, &card.agency)
        })
        .collect();
    let warm_n = args.warmup * c;
    let warm = make_items(&card, &citizens, warm_n, 0);
    let timed = make_items(&card, &citizens, args.grants, warm_n);
    let direct = make_items(&card, &citizens, args.profile, warm_n + args.grants);
    // The store alone: `profile` grants for C threads, then SERIAL more for one thread.
    let mut store_only: Vec<(NewGrant, String)> = {
        let items = make_items(&card, &citizens, args.profile + SERIAL, 0);
        let keys: Vec<(String, &KeyPair)> = agency
            .identity
            .keys
            .iter()
            .map(|(k, p)| (k.clone(), p.as_ref()))
            .collect();
        let view = AgencyView {
            card: &card,
            keys: &keys,
            limits: twin_protocol::Limits::default(),
        };
        items
            .iter()
            .map(|item| {
                let v = UnverifiedGrant::parse(&item.body, &view.limits)
                    .and_then(|g| g.verify(&view, now(), |_, _| false, |_, _| false))
                    .expect("a valid grant");
                let values = Zeroizing::new(serde_json::to_vec(&v.values).expect("JSON"));
                (
                    NewGrant {
                        claims: v.claims,
                        values,
                        at: now(),
                        nonce: None,
                    },
                    nonce(),
                )
            })
            .collect()
    };
    let all_ids: Vec<GrantId> = warm
        .iter()
        .chain(&timed)
        .chain(&direct)
        .map(|i| i.id)
        .chain(store_only.iter().map(|(g, _)| g.claims.grant_id))
        .collect();
    let serial = store_only.split_off(args.profile);
    let made = made.elapsed();

    println!("==== agency load benchmark");
    println!(
        "setup: {} grants from {} citizens (2 fields, single-use, {} bytes on average) and their signed requests made in {:.1} s, before timing; \
         server: twin_agency::http::serve on 127.0.0.1, tokio {} worker threads + blocking pool; \
         client: reqwest, {} HTTP/1.1 keep-alive connections on {} tokio thread(s); logging: {}",
        all_ids.len(),
        citizens.len(),
        timed.iter().map(|i| i.body.len()).sum::<usize>() / timed.len().max(1),
        made.as_secs_f64(),
        args.server_threads,
        c,
        args.client_threads,
        if args.log {
            "JSON lines into a sink"
        } else {
            "off"
        },
    );

    // --- the floor, single-threaded
    let (floor_med, floor_mean) = floor(&agency, &timed, args.floor.max(1));
    let floor_rate = 1.0 / floor_med.as_secs_f64();

    // --- HTTP
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .thread_name("srv")
        .enable_all()
        .build()
        .expect("the server runtime");
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(serve(
        listener,
        Arc::clone(&agency),
        Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    {
        let probe = reqwest::blocking::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let ready = (0..400).any(|_| {
            let ok = probe
                .get(format!("{base}/readyz"))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if !ok {
                std::thread::sleep(Duration::from_millis(25));
            }
            ok
        });
        assert!(ready, "the server did not become ready");
    }
    let n_http = timed.len();
    let load_before = load_average();
    let run = http_run(&base, warm, timed, c, args.client_threads.max(1));
    let _ = stop.send(());
    server_rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await })
        .expect("the server stops")
        .expect("the server task")
        .expect("the server");
    drop(server_rt);

    let rate = n_http as f64 / run.wall.as_secs_f64();
    println!(
        "HTTP:  {:>7.0} redemptions/s  ({} in {:.2} s, every answer 201, durable before the answer); latency median {:.2} ms, p99 {:.2} ms",
        rate,
        n_http,
        run.wall.as_secs_f64(),
        ms(quantile(&run.latencies, 0.5)),
        ms(quantile(&run.latencies, 0.99)),
    );
    println!(
        "floor: {:.1} µs/request = {:.0}/s per core  (verify_request + UnverifiedGrant::parse + verify: Ed25519 verify x2 + HPKE open; single thread, {} iterations, median; mean {:.1} µs)",
        us(floor_med),
        floor_rate,
        args.floor,
        us(floor_mean),
    );
    println!(
        "RATIO: HTTP / (2 x floor rate) = {:.0} / {:.0} = {:.2}   goal: >= 3,000/s on 2 cores: {}",
        rate,
        2.0 * floor_rate,
        rate / (2.0 * floor_rate),
        if rate >= 3000.0 { "met" } else { "MISSED" }
    );
    println!(
        "CPU during the HTTP run (server and client, one process): {:.0} µs per redemption ({:.2} cores busy on average); by thread:",
        run.process_cpu / n_http as f64 * 1e6,
        run.process_cpu / run.wall.as_secs_f64(),
    );
    println!(
        "    {:<40} {:>6.2} cores busy on average (load average before the run: {})",
        "other processes on the machine",
        ((run.machine_busy - run.process_cpu) / run.wall.as_secs_f64()).max(0.0),
        load_before,
    );
    for (group, secs) in &run.cpu {
        if group == "other" {
            continue;
        }
        println!(
            "    {:<40} {:>6.0} µs/redemption",
            group,
            secs / n_http as f64 * 1e6
        );
    }

    // --- the service without HTTP
    let cpu0 = process_cpu();
    let (wall, lat) = threaded(&direct, c, |item| {
        let v = agency
            .check_signed("POST", PATH, &item.body, &item.headers, false)
            .expect("a valid request signature");
        let a = agency.redeem_request(&item.body, &v).expect("redeemed");
        assert!(!a.again);
    });
    let cpu = process_cpu() - cpu0;
    println!(
        "service without HTTP (Agency::check_signed + Agency::redeem_request, {c} threads): {:>7.0}/s ({} in {:.2} s); latency median {:.2} ms, p99 {:.2} ms; CPU {:.0} µs/redemption",
        direct.len() as f64 / wall.as_secs_f64(),
        direct.len(),
        wall.as_secs_f64(),
        ms(quantile(&lat, 0.5)),
        ms(quantile(&lat, 0.99)),
        cpu / direct.len() as f64 * 1e6,
    );

    // --- the store alone: the one durable write of a redemption (grant and nonce)
    let store_ref: &SqliteStore = &store;
    let anyone = twin_protocol::SignPublic([0; 32]);
    let cpu0 = process_cpu();
    let (wall, lat) = threaded(&store_only, c, |(g, n)| {
        let grant = NewGrant {
            claims: g.claims.clone(),
            values: g.values.clone(),
            at: g.at,
            nonce: Some((n.clone(), now() + 600)),
        };
        store_ref.redeem(grant).expect("kept");
    });
    let cpu = process_cpu() - cpu0;
    println!(
        "store alone (redeem spending its nonce: 1 durable write, {c} threads, no crypto): {:>7.0}/s ({} in {:.2} s); latency median {:.2} ms, p99 {:.2} ms; CPU {:.0} µs/redemption",
        store_only.len() as f64 / wall.as_secs_f64(),
        store_only.len(),
        wall.as_secs_f64(),
        ms(quantile(&lat, 0.5)),
        ms(quantile(&lat, 0.99)),
        cpu / store_only.len() as f64 * 1e6,
    );
    // One thread: every write is a commit of its own, so these are the fixed costs of a
    // group commit of each kind (the writer thread runs commits one after another).
    let mut nonce_lat = Vec::with_capacity(serial.len());
    let mut redeem_lat = Vec::with_capacity(serial.len());
    for (g, n) in &serial {
        let t = now();
        let s = Instant::now();
        assert!(store.use_nonce(&anyone, n, t + 600, t).expect("a nonce"));
        nonce_lat.push(s.elapsed());
        let grant = NewGrant {
            claims: g.claims.clone(),
            values: g.values.clone(),
            at: g.at,
            nonce: None,
        };
        let s = Instant::now();
        store.redeem(grant).expect("kept");
        redeem_lat.push(s.elapsed());
    }
    nonce_lat.sort();
    redeem_lat.sort();
    println!(
        "store, unbatched (1 thread, {} each): use_nonce median {:.3} ms, p99 {:.3} ms; redeem median {:.3} ms, p99 {:.3} ms",
        serial.len(),
        ms(quantile(&nonce_lat, 0.5)),
        ms(quantile(&nonce_lat, 0.99)),
        ms(quantile(&redeem_lat, 0.5)),
        ms(quantile(&redeem_lat, 0.99)),
    );
    let (f50, f99) = fsync_floor(dir.path(), 200);
    println!(
        "disk: 4 KiB write + fsync in the store's folder: median {:.3} ms, p99 {:.3} ms (200 runs)",
        ms(f50),
        ms(f99)
    );

    // --- durability: every grant on disk, read back by a fresh store
    drop(agency);
    drop(store);
    let reopened = SqliteStore::open(dir.path()).expect("the store, reopened");
    let held = reopened.grants().expect("the grants");
    let missing = all_ids
        .iter()
        .filter(|id| !matches!(reopened.grant(id), Ok(Some(_))))
        .count();
    assert_eq!(missing, 0, "{missing} redeemed grants are not in the store");
    assert_eq!(
        held.len(),
        all_ids.len(),
        "the store holds other grants than those redeemed"
    );
    println!(
        "durability: all {} redeemed grants read back from the reopened store",
        all_ids.len()
    );
}
