//! The test harness every capability shares. `spawn_app()` starts the real
//! server on port 0 over a fresh database, SQLite or PostgreSQL, with clients
//! that carry each demo principal's key. Every scenario is written once as
//! `async fn name(app: TestApp)` and run on both backends by `scenarios!`; the
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

/// Instantiates each listed `async fn name(app: TestApp)` as two tests,
/// `sqlite::name` and `postgres::name`. With `settings = f;` first, they run
/// with the settings file `helpers::f()` returns instead of the demo organisation.
macro_rules! scenarios {
    (settings = $settings:ident; $($name:ident),+ $(,)?) => {
        scenarios!(@both Some($crate::helpers::$settings().as_str()); $($name),+);
    };
    ($($name:ident),+ $(,)?) => {
        scenarios!(@both None; $($name),+);
    };
    (@both $settings:expr; $($name:ident),+) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::run(
                        $crate::helpers::Backend::Sqlite,
                        $settings,
                        super::$name,
                    )
                    .await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::run(
                        $crate::helpers::Backend::Postgres,
                        $settings,
                        super::$name,
                    )
                    .await;
                }
            )+
        }
    };
}

/// Instantiates each listed `async fn name(backend: Backend)` as `sqlite::name`
/// and `postgres::name`, for scenarios that set up their own server (a real
/// binary, a mail receiver) rather than take a `TestApp`.
macro_rules! per_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}
