//! kube-lease-manager (the operator's leader election) against the API-server test double:
//! of two candidates exactly one leads; when it releases, the other takes over.

use std::time::Duration;

use bindy_kube_double::ApiServerDouble;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_then_takeover() {
    let d = ApiServerDouble::start().await.unwrap();
    let make = |id: &str| {
        let client = d.client().unwrap();
        let params = LeaseParams::new(id, 3, 1);
        async move {
            LeaseManagerBuilder::new(client, "bindy-leader")
                .with_namespace("default")
                .with_parameters(params)
                .build()
                .await
                .unwrap()
        }
    };
    let a = make("pod-a").await;
    let b = make("pod-b").await;
    let (mut a_rx, a_task) = a.watch().await;
    let (mut b_rx, b_task) = b.watch().await;
    let leaders = |a: bool, b: bool| usize::from(a) + usize::from(b);
    // wait until someone leads; never both
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (la, lb) = (*a_rx.borrow_and_update(), *b_rx.borrow_and_update());
        assert!(leaders(la, lb) <= 1, "two leaders at once");
        if leaders(la, lb) == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader within 10 s"
        );
        tokio::select! {
            _ = a_rx.changed() => {}
            _ = b_rx.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let a_leads = *a_rx.borrow();
    // the leader steps down (its watch channel closes, the manager releases the lease)
    let (mut follower_rx, leader_rx, leader_task) = if a_leads {
        (b_rx, a_rx, a_task)
    } else {
        (a_rx, b_rx, b_task)
    };
    drop(leader_rx);
    let manager = leader_task.await.unwrap().unwrap();
    manager.release().await.unwrap();
    let took_over = tokio::time::timeout(Duration::from_secs(10), async {
        while !*follower_rx.borrow_and_update() {
            if follower_rx.changed().await.is_err() {
                return false;
            }
        }
        true
    })
    .await;
    assert_eq!(took_over, Ok(true), "the other candidate takes over");
}
