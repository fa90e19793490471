//! Incidents survive a restart when the database is a file; the storage
//! families follow every operation and the file's real size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_survive_a_restart_with_a_file_database() {
    let dir = incident_metrics_testing::scratch_dir("lim-persist");
    let db = dir.join("incidents.db");
    let toml = format!("[storage]\npath = {:?}", db.to_str().unwrap());

    let app = start(config(&toml)).await;
    let open = create(&app, "kept open", "critical", "persist").await;
    let open = analysed(&app, open["id"].as_str().unwrap()).await;
    let done = create(&app, "resolved", "low", "persist-2").await;
    let done_id = done["id"].as_str().unwrap();
    post_json(
        &format!("{}/api/v1/incidents/{done_id}/resolve", base(&app)),
        "",
    )
    .await;
    let text = scrape(app.http_addr()).await;
    let size = value(
        &text,
        "llm_incident_manager_storage_size_bytes{backend=\"sqlite\"}",
    );
    assert!(size > 0.0);
    app.shutdown().await.unwrap();
    assert!(db.metadata().unwrap().len() > 0);

    // A new process (here: a new app with a new registry) on the same file.
    let app = start(config(&toml)).await;
    let id = open["id"].as_str().unwrap();
    let (status, got) = get_json(&format!("{}/api/v1/incidents/{id}", base(&app))).await;
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(got["title"], "kept open");
    assert_eq!(got["classification"], open["classification"]);
    let (_, all) = get_json(&format!("{}/api/v1/incidents", base(&app))).await;
    assert_eq!(all["incidents"].as_array().unwrap().len(), 2);
    // The active gauge is rebuilt from the store; dedup still sees the open one.
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_active{severity=\"critical\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_active{severity=\"low\"}"
        ),
        0.0
    );
    assert!(
        value(
            &text,
            "llm_incident_manager_storage_size_bytes{backend=\"sqlite\"}"
        ) >= size
    );
    let again = create(&app, "kept open", "critical", "persist").await;
    assert_eq!(again["deduplicated"], true);
    assert_eq!(again["id"], id);
    let text = scrape(app.http_addr()).await;
    assert!(
        value(
            &text,
            "llm_incident_manager_storage_operations_total{operation=\"get\",backend=\"sqlite\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            "llm_incident_manager_storage_operations_total{operation=\"list\",backend=\"sqlite\"}"
        ) >= 1.0
    );
    app.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
