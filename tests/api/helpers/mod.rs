//! The test harness every capability shares. `spawn_app()` starts the real
//! server on port 0 over a fresh database, SQLite or PostgreSQL, with clients
//! that carry each demo principal's key. Every scenario is written once as
//! `async fn name(app: TestApp)` (or `async fn name(backend: Backend)` when it
//! starts its own servers) and run on both backends by `scenarios!`; the
//! PostgreSQL half is skipped (not failed) when `WHISTLE_TEST_POSTGRES_URL` is
//! unset.
//!
//! - `app`: starting the server (in process, or the real binary) and its clients;
//! - `org`: the organisations, keys and petitions the scenarios use;
//! - `verbs`: what the office and the departments do, one call each;
//! - `checks`: assertions on answers and statuses;
//! - `watching`: time on a clock the test moves, waiting until the service has
//!   acted, its alerts and letters, and live streams read with a bound.

mod app;
mod checks;
mod org;
mod verbs;
mod watching;

pub use app::*;
pub use checks::*;
pub use org::*;
pub use watching::*;

/// Instantiates each listed scenario as two tests, `sqlite::name` and
/// `postgres::name`. A scenario is `async fn name(app: TestApp)`, run on a
/// server `spawn_app` starts, or `async fn name(backend: Backend)`, which sets
/// up its own (a real binary, two instances, a mail receiver); one list may
/// hold both. With `settings = f;` first, the `TestApp` scenarios run with the
/// settings file `helpers::f()` returns instead of the demo organisation.
/// With `module = name;` first, the tests go into a module of that name, so
/// that one file may have a second list (with other settings, say).
macro_rules! scenarios {
    (module = $group:ident; $($rest:tt)+) => {
        mod $group {
            use super::*;
            scenarios!($($rest)+);
        }
    };
    (settings = $settings:ident; $($name:ident),+ $(,)?) => {
        scenarios!(@both Some($crate::helpers::$settings().as_str()); $($name),+);
    };
    ($($name:ident),+ $(,)?) => {
        scenarios!(@both None; $($name),+);
    };
    (@both $settings:expr; $($name:ident),+) => {
        scenarios!(@one sqlite, Sqlite, $settings; $($name),+);
        scenarios!(@one postgres, Postgres, $settings; $($name),+);
    };
    (@one $module:ident, $backend:ident, $settings:expr; $($name:ident),+) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::run(
                        $crate::helpers::Backend::$backend,
                        $settings,
                        super::$name,
                    )
                    .await;
                }
            )+
        }
    };
}
