//! What an open incident costs in memory, counted exactly: a counting global allocator
//! around the system one, and the live heap before and after triggering incidents shaped
//! like `klaxon-bench memory`'s (a schedule with two escalation levels, one page each, a
//! pending escalation timer), through the store with the engine and notifier running.
//! Unlike the driver's RSS figure it sees no allocator slack, so it shows what each
//! incident carries; it also prints the size of the structures that make it up.
//! `cargo bench --bench incident_heap` (`KLAXON_BENCH_SMOKE=1`: 1,000 incidents).
//! Figures: BENCHMARKS.md, "Memory per open incident".

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use klaxon::app::{Config, Core};
use klaxon::domain::incident::{Notification, TimelineRecord};
use klaxon::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use klaxon::domain::user::UserFields;
use klaxon::domain::{Actor, EscalationPolicy, Incident, NewIncident, Principal, Role, Severity};
use klaxon::store::{MemoryJournal, ScheduleDraft, State};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter moves.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let incidents: usize = if std::env::var_os("KLAXON_BENCH_SMOKE").is_some() {
        1_000
    } else {
        20_000
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(incidents));
}

async fn run(incidents: usize) {
    let sys = Principal::system();
    // Every page delivered at once: 20,000 pages to one person would otherwise wait in
    // the storm gate for its minute, and be counted as the incidents' memory.
    let mut config = Config::default();
    config.delivery.per_minute = usize::MAX;
    let core = Core::start(State::default(), Arc::new(MemoryJournal), &config);
    let store = &core.store;
    let person = |name: &str, email: &str| {
        UserFields::parse(name, email, None, Role::Responder).expect("valid fields")
    };
    let alice = store
        .create_user(&sys, person("Alice", "alice@example.com"), None)
        .await
        .expect("a user");
    let bob = store
        .create_user(&sys, person("Bob", "bob@example.com"), None)
        .await
        .expect("a user");
    let service = store
        .create_service(&sys, "Payments", None)
        .await
        .expect("a service");
    let now = store.clock().now();
    let level = || LevelInput {
        user_id: Some(bob.id.to_string()),
        schedule_id: None,
        timeout_ms: 3_600_000,
    };
    let schedule = store
        .create_schedule(
            &sys,
            ScheduleDraft {
                name: "Primary".into(),
                service_id: service.id.to_string(),
                time_zone: None,
                rotations: vec![],
                rotation: vec![RotationInput {
                    user_id: alice.id.to_string(),
                    start: now - chrono::Duration::hours(1),
                    end: now + chrono::Duration::days(1),
                }],
                escalation_policy: PolicyInput {
                    initial_timeout_ms: 3_600_000,
                    levels: vec![level(), level()],
                    repeat: 0,
                    acknowledge_timeout_ms: None,
                },
            },
        )
        .await
        .expect("a schedule")
        .id
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..incidents {
        let new = NewIncident::parse(&format!("bench incident {i}"), None, Severity::High, None)
            .expect("valid");
        store
            .trigger(&sys, &schedule, new)
            .await
            .expect("a trigger");
    }
    // Let the engine and the notifier take their commands.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = LIVE.load(Ordering::Relaxed);
    println!(
        "incident_heap: {incidents} open incidents, live heap {} B per incident",
        (after - before) / incidents as isize
    );
    println!(
        "incident_heap: size_of Incident {}, TimelineRecord {}, Notification {}, Actor {}, EscalationPolicy {}",
        size_of::<Incident>(),
        size_of::<TimelineRecord>(),
        size_of::<Notification>(),
        size_of::<Actor>(),
        size_of::<EscalationPolicy>()
    );
    core.stop();
}
