//! The cost of authentication (issue 9's figures): what every request pays to turn a
//! bearer token or a session cookie into a principal (one SHA-256 and one map lookup),
//! next to what a login pays (one argon2id verification with the parameters in use).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use klaxon::auth::{Gate, LoginQuota, Passwords, SessionPolicy, digest, random_secret};
use klaxon::clock::SystemClock;
use klaxon::domain::user::UserFields;
use klaxon::domain::{Principal, Role};
use klaxon::store::{MemoryJournal, State, Store};

fn auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _entered = runtime.enter();
    let (store, _outlets) = Store::new(
        State::default(),
        Arc::new(MemoryJournal),
        Arc::new(SystemClock),
        "log",
        16,
    );
    let gate = Gate::new(
        store.clone(),
        Some("bench-bootstrap-token-0123456789abcdef"),
        SessionPolicy::default(),
        LoginQuota::default(),
    );
    let admin = Principal::system();
    // 1,000 tokens, so the lookup is a real map lookup, not a one-entry map.
    let mut secrets = Vec::new();
    for i in 0..1_000 {
        let secret = random_secret("kxn_");
        runtime
            .block_on(store.create_api_token(
                &admin,
                &format!("token {i}"),
                Role::Responder,
                None,
                digest(&secret),
            ))
            .expect("token");
        secrets.push(secret);
    }
    let header = format!("Bearer {}", secrets[500]);
    // The first use records lastUsedAt; after that, requests are pure lookups.
    gate.bearer(&header).expect("valid");
    c.bench_function("auth_bearer_api_token", |b| {
        b.iter(|| gate.bearer(black_box(&header)).is_ok())
    });
    let bootstrap = "Bearer bench-bootstrap-token-0123456789abcdef";
    c.bench_function("auth_bearer_bootstrap_token", |b| {
        b.iter(|| gate.bearer(black_box(bootstrap)).is_ok())
    });
    let user = runtime
        .block_on(store.create_user(
            &admin,
            UserFields::parse("Alice", "alice@example.com", None, Role::Admin).expect("fields"),
            None,
        ))
        .expect("user");
    let (_, cookie) = runtime
        .block_on(gate.start_session(user.id, None))
        .expect("session");
    c.bench_function("auth_session_cookie", |b| {
        b.iter(|| gate.session(black_box(&cookie)).is_ok())
    });
    let passwords = Passwords::new(1);
    let hash = runtime.block_on(passwords.hash("correct horse battery staple"));
    let mut group = c.benchmark_group("login");
    group.sample_size(20);
    group.bench_function("argon2id_verify", |b| {
        b.iter(|| {
            runtime
                .block_on(passwords.verify(black_box("correct horse battery staple"), Some(&hash)))
        })
    });
    group.finish();
}

criterion_group!(benches, auth);
criterion_main!(benches);
