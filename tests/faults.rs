//! The gate under every fault the sandbox can inject. Each run starts from a published API (so
//! there is a live revision to protect), deploys a compatible change, arms the fault and runs the
//! gate again. It either succeeds after bounded retries, or fails with the right exit code and a
//! message naming the problem, with the live revision exactly as it was. No run prints a secret.

mod support;

use apim_sandbox::{Config, FAULT_NAMES, LoggedRequest};
use support::{World, base_doc, with_new_operation};

/// What a fault must lead to.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exit 0, the change released as revision 2.
    Survives,
    /// This exit code, a message containing each needle, and the live revision untouched.
    Fails(i32, &'static [&'static str]),
}

struct Case {
    fault: &'static str,
    value: u64,
    /// Seconds the sandbox's ARM asks clients to wait (Retry-After, LRO polls).
    retry_after: u64,
    expect: Expect,
    /// The requests that show the fault being met (and retried).
    retries: fn(&[LoggedRequest]) -> usize,
}

fn count(log: &[LoggedRequest], f: impl Fn(&LoggedRequest) -> bool) -> usize {
    log.iter().filter(|r| f(r)).count()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            fault: "arm-429",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status == 429),
        },
        Case {
            fault: "arm-5xx",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status >= 500),
        },
        Case {
            fault: "arm-409",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status == 409),
        },
        Case {
            // The same refusal under ARM's generic code (Azure/apiops PR #787).
            fault: "arm-409-conflict",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status == 409),
        },
        Case {
            // APIM fails the link export of the baseline (Azure/apiops#223); past the retries
            // the inline export is used (tests/apim.rs).
            fault: "arm-export-link-500",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status == 500),
        },
        Case {
            // The release is applied but its answer is a 504.
            fault: "arm-release-lost",
            value: 1,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status == 504),
        },
        Case {
            // A large import answered 422 ManagementApiRequestFailed while it runs on
            // (Azure/apiops#497, #689): waited out, not rolled back.
            fault: "arm-import-422",
            value: 1,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "arm" && r.status == 422),
        },
        Case {
            fault: "kube-5xx",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "kube" && r.status >= 500),
        },
        Case {
            fault: "kube-503",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "kube" && r.status == 503),
        },
        Case {
            fault: "kube-429",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "kube" && r.status == 429),
        },
        Case {
            fault: "portforward-cut",
            value: 1,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.path.contains("/portforward")).saturating_sub(1),
        },
        Case {
            fault: "pod-ready-after",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| {
                count(l, |r| {
                    r.emulator == "kube" && r.path.contains("endpointslices")
                })
            },
        },
        Case {
            fault: "lro-fail",
            value: 1,
            retry_after: 0,
            expect: Expect::Fails(4, &["import", "failed"]),
            retries: |l| count(l, |r| r.emulator == "arm" && r.method == "DELETE"),
        },
        Case {
            // A 2-second token on a run that takes longer (Retry-After 1 on every LRO poll).
            fault: "token-ttl",
            value: 2,
            retry_after: 1,
            expect: Expect::Survives,
            retries: |l| count(l, |r| r.emulator == "entra" && r.method == "POST"),
        },
        // Past the retry bound: the run ends, naming what ARM / the API server answered.
        Case {
            fault: "arm-5xx",
            value: 100,
            retry_after: 0,
            expect: Expect::Fails(4, &["503", "serviceunavailable"]),
            retries: |l| count(l, |r| r.emulator == "arm" && r.status >= 500),
        },
        Case {
            fault: "kube-5xx",
            value: 100,
            retry_after: 0,
            expect: Expect::Fails(3, &["kubernetes api", "attempts"]),
            retries: |l| count(l, |r| r.emulator == "kube" && r.status >= 500),
        },
        Case {
            fault: "kube-429",
            value: 100,
            retry_after: 0,
            expect: Expect::Fails(3, &["429 too many requests", "attempts"]),
            retries: |l| count(l, |r| r.emulator == "kube" && r.status == 429),
        },
        Case {
            fault: "pod-latency",
            value: 1500,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |_| 0,
        },
        Case {
            // The policy PUT of the staged revision answers 500 (runs with a `policy` input).
            fault: "arm-policy-500",
            value: 2,
            retry_after: 0,
            expect: Expect::Survives,
            retries: |l| {
                count(l, |r| {
                    r.emulator == "arm" && r.status == 500 && r.path.contains("/policies/policy")
                })
            },
        },
    ]
}

/// Faults met only by a run with a policy to publish.
const POLICY_FAULTS: &[&str] = &["arm-policy-500"];

/// The inputs a case's runs take: a `policy` file for the faults that need one.
fn inputs_for(fault: &str, world: &World) -> Vec<(&'static str, String)> {
    if !POLICY_FAULTS.contains(&fault) {
        return Vec::new();
    }
    let path = world.dir.path().join("policy.xml");
    std::fs::write(
        &path,
        "<policies><inbound><base /><rate-limit calls=\"5\" renewal-period=\"60\" /></inbound></policies>",
    )
    .unwrap();
    vec![("APIM_GATE_POLICY", path.to_str().unwrap().to_string())]
}

struct Row {
    fault: &'static str,
    value: u64,
    code: i32,
    outcome: String,
    retries: usize,
    first_error: String,
}

async fn exercise(case: &Case) -> Row {
    let world = World::start(Config {
        retry_after: case.retry_after,
        ..Config::default()
    })
    .await;
    world.deploy("svc-1", &base_doc("Service 1"));
    let inputs = inputs_for(case.fault, &world);
    let inputs: Vec<(&str, &str)> = inputs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = world.gate(&inputs).await;
    assert_eq!(run.code, 0, "first publish: {}", run.both());
    world.deploy(
        "svc-1",
        &with_new_operation(base_doc("Service 1"), "/health"),
    );
    let before = world.apim("svc-1").await.unwrap();

    world
        .sandbox
        .shared
        .faults
        .set(case.fault, case.value)
        .unwrap();
    let mark = world.sandbox.requests().len();
    let run = world.gate(&inputs).await;
    let log = world.requests_since(mark);
    let after = world.apim("svc-1").await.unwrap();
    match case.expect {
        Expect::Survives => {
            assert_eq!(run.code, 0, "{}: {}", case.fault, run.both());
            assert_eq!(after.0, 2, "{}: the change is released", case.fault);
            assert!(after.1.contains(&"GET /health".to_string()));
        }
        Expect::Fails(code, needles) => {
            assert_eq!(run.code, code, "{}: {}", case.fault, run.both());
            for n in needles {
                assert!(
                    run.both().to_lowercase().contains(n),
                    "{}: no {n:?} in {}",
                    case.fault,
                    run.both()
                );
            }
            assert_eq!(after, before, "{}: the live revision changed", case.fault);
        }
    }
    world.assert_no_secret_printed();
    let first_error = run
        .stdout
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .chars()
        .take(90)
        .collect();
    Row {
        fault: case.fault,
        value: case.value,
        code: run.code,
        outcome: if run.code == 0 {
            "survived".into()
        } else {
            "failed safely".into()
        },
        retries: (case.retries)(&log),
        first_error,
    }
}

async fn one(fault: &str) -> Row {
    one_valued(fault, None).await
}

async fn one_valued(fault: &str, value: Option<u64>) -> Row {
    let case = cases()
        .into_iter()
        .find(|c| c.fault == fault && value.is_none_or(|v| v == c.value))
        .unwrap();
    exercise(&case).await
}

#[tokio::test(flavor = "multi_thread")]
async fn arm_429_is_retried_after_retry_after() {
    assert!(one("arm-429").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_500_on_the_policy_put_is_retried() {
    assert!(one("arm-policy-500").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn arm_5xx_is_retried() {
    assert!(one("arm-5xx").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn arm_5xx_past_the_retry_bound_fails_with_exit_4_and_nothing_written() {
    let row = one_valued("arm-5xx", Some(100)).await;
    assert!((2..=6).contains(&row.retries), "bounded: {}", row.retries);
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_5xx_past_the_retry_bound_fails_with_exit_3() {
    let row = one_valued("kube-5xx", Some(100)).await;
    assert!(row.retries <= 10, "bounded: {}", row.retries);
}

#[tokio::test(flavor = "multi_thread")]
async fn arm_409_in_progress_is_retried() {
    assert!(one("arm-409").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn arm_409_conflict_in_progress_is_retried() {
    assert!(one("arm-409-conflict").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_release_answer_is_survived() {
    assert!(one("arm-release-lost").await.retries >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_answered_422_while_it_runs_on_is_waited_out() {
    assert!(one("arm-import-422").await.retries >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_5xx_is_retried() {
    assert!(one("kube-5xx").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_port_forward_is_retried() {
    assert_eq!(one("portforward-cut").await.retries, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_ready_late_is_waited_for() {
    assert!(one("pod-ready-after").await.retries >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_import_leaves_the_live_revision_untouched() {
    let row = one("lro-fail").await;
    assert_eq!(row.code, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_mid_run_is_refreshed() {
    assert!(
        one("token-ttl").await.retries >= 2,
        "the token was refreshed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_pod_is_waited_for() {
    one("pod-latency").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_has_a_case_and_the_matrix_is_printed() {
    let cases = cases();
    for name in FAULT_NAMES {
        assert!(cases.iter().any(|c| c.fault == *name), "no case for {name}");
    }
    let mut table = String::from("fault              value  outcome        exit  retries  error\n");
    for case in &cases {
        let row = exercise(case).await;
        table.push_str(&format!(
            "{:<18} {:<6} {:<14} {:<5} {:<8} {}\n",
            row.fault, row.value, row.outcome, row.code, row.retries, row.first_error
        ));
    }
    println!("{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_out_of_time_names_the_timeout_input() {
    // Every long-running operation asks for 30 s between polls; the run has 2 s.
    let slow = World::start(Config {
        retry_after: 30,
        ..Config::default()
    })
    .await;
    slow.deploy("svc-1", &base_doc("Service 1"));
    let run = slow.gate(&[("APIM_GATE_TIMEOUT", "2s")]).await;
    assert_eq!(run.code, 4, "{}", run.both());
    assert!(run.both().contains("timeout input is 2s"), "{}", run.both());
    let polls = slow
        .requests_since(0)
        .iter()
        .filter(|r| r.path.contains("asyncId="))
        .count();
    assert_eq!(polls, 0, "no poll past the deadline");
    slow.assert_no_secret_printed();
}
