//! Create, read, list, update (new versions) and delete; another user's workflows are
//! 404, every call needs a token; a workflow belongs to one of its owner's chatbots.

use super::*;

#[tokio::test]
async fn create_answers_201_with_version_1_and_a_webhook_url() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let mut body = workflow_body("  Order hook ", chatbot, webhook_flow());
    body["description"] = json!("called by the shop");

    let (status, created) = app.create_workflow(&body).await;

    assert_eq!(status, 201, "{created}");
    assert!(Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
    assert_eq!(created["name"], "Order hook");
    assert_eq!(created["description"], "called by the shop");
    assert_eq!(created["chatbot_id"], chatbot.to_string());
    assert_eq!(created["version"], 1);
    assert_eq!(created["is_active"], true);
    assert_eq!(created["trigger_type"], "trigger.webhook");
    let hook = created["webhook_url"].as_str().unwrap();
    let token = hook
        .strip_prefix(&format!("{PUBLIC_URL}/hooks/"))
        .unwrap_or_else(|| panic!("webhook_url {hook} is not under {PUBLIC_URL}/hooks/"));
    assert!(token.len() >= 32, "short webhook token {token}");
    assert_eq!(
        created["flow_definition"]["nodes"][0]["type"],
        "trigger.webhook"
    );
    assert_eq!(created["flow_definition"]["edges"][0]["target"], "set");
}

#[tokio::test]
async fn each_webhook_workflow_gets_its_own_token() {
    let app = spawn_app().await;
    let first = app
        .created(&workflow_body("a", app.chatbot().await, webhook_flow()))
        .await;
    let second = app
        .created(&workflow_body("b", app.chatbot().await, webhook_flow()))
        .await;
    assert_ne!(first["webhook_url"], second["webhook_url"]);
}

#[tokio::test]
async fn a_workflow_without_a_webhook_trigger_has_no_webhook_url() {
    let app = spawn_app().await;

    let created = app
        .created(&workflow_body("manual", app.chatbot().await, manual_flow()))
        .await;

    assert_eq!(created["trigger_type"], "trigger.manual");
    assert!(created.get("webhook_url").is_none(), "{created}");
}

#[tokio::test]
async fn create_can_start_inactive() {
    let app = spawn_app().await;
    let mut body = workflow_body("off", app.chatbot().await, manual_flow());
    body["is_active"] = json!(false);

    let created = app.created(&body).await;

    assert_eq!(created["is_active"], false);
}

#[tokio::test]
async fn get_answers_the_workflow_with_its_definition() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap();

    let (status, fetched) = app.get_workflow(id).await;

    assert_eq!(status, 200, "{fetched}");
    for field in [
        "id",
        "name",
        "chatbot_id",
        "version",
        "is_active",
        "trigger_type",
        "webhook_url",
    ] {
        assert_eq!(fetched[field], created[field], "{field}");
    }
    assert_eq!(
        fetched["flow_definition"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn get_of_an_unknown_or_malformed_id_is_404() {
    let app = spawn_app().await;

    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let (status, body) = app.get_workflow(&id).await;
        assert_eq!(status, 404, "{id}: {body}");
        assert_error(&body, "NOT_FOUND");
    }
}

#[tokio::test]
async fn list_answers_items_and_total_with_filters() {
    let app = spawn_app().await;
    let bot_a = app.chatbot().await;
    let bot_b = app.chatbot().await;
    let a1 = app
        .created(&workflow_body("a1", bot_a, webhook_flow()))
        .await;
    let mut inactive = workflow_body("a2", bot_a, manual_flow());
    inactive["is_active"] = json!(false);
    let a2 = app.created(&inactive).await;
    let b1 = app
        .created(&workflow_body("b1", bot_b, manual_flow()))
        .await;
    // Another user's workflow never shows.
    let stranger = app.token_for(Uuid::new_v4());
    let strangers_bot = app.chatbot_as(&stranger).await;
    let (status, _) = app
        .create_workflow_as(
            Some(&stranger),
            &workflow_body("x", strangers_bot, manual_flow()),
        )
        .await;
    assert_eq!(status, 201);

    let ids = |list: &Value| -> Vec<Value> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].clone())
            .collect()
    };

    let (status, all) = app.list_workflows("").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 3);
    // Newest first.
    assert_eq!(
        ids(&all),
        vec![b1["id"].clone(), a2["id"].clone(), a1["id"].clone()]
    );
    let first_item = &all["items"][2];
    assert_eq!(first_item["trigger_type"], "trigger.webhook");
    assert_eq!(first_item["webhook_url"], a1["webhook_url"]);

    let (_, of_a) = app.list_workflows(&format!("?chatbot_id={bot_a}")).await;
    assert_eq!(of_a["total"], 2);
    assert_eq!(ids(&of_a), vec![a2["id"].clone(), a1["id"].clone()]);

    let (_, active_of_a) = app
        .list_workflows(&format!("?chatbot_id={bot_a}&is_active=true"))
        .await;
    assert_eq!(active_of_a["total"], 1);
    assert_eq!(ids(&active_of_a), vec![a1["id"].clone()]);

    let (_, inactive_all) = app.list_workflows("?is_active=false").await;
    assert_eq!(ids(&inactive_all), vec![a2["id"].clone()]);

    let (_, page) = app.list_workflows("?limit=1&offset=1").await;
    assert_eq!(page["total"], 3, "total counts every match, not the page");
    assert_eq!(ids(&page), vec![a2["id"].clone()]);
}

#[tokio::test]
async fn list_refuses_a_limit_out_of_range_and_a_bad_filter() {
    let app = spawn_app().await;

    for query in [
        "?limit=0",
        "?limit=201",
        "?limit=-1",
        "?chatbot_id=nope",
        "?is_active=maybe",
    ] {
        let (status, body) = app.list_workflows(query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_error(&body, "VALIDATION_ERROR");
    }
    let (status, _) = app.list_workflows("?limit=200").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn put_makes_a_new_version_and_keeps_the_webhook_token() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let mut changed = webhook_flow();
    changed["nodes"][1]["data"]["config"] = json!({"values": {"greeting": "bonjour"}});

    let (status, updated) = app
        .update_workflow(id, &json!({"name": "renamed", "flow_definition": changed}))
        .await;

    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["webhook_url"], created["webhook_url"]);
    assert_eq!(
        updated["flow_definition"]["nodes"][1]["data"]["config"]["values"]["greeting"],
        "bonjour"
    );
    let (_, fetched) = app.get_workflow(id).await;
    assert_eq!(fetched["version"], 2);
    assert_eq!(fetched["name"], "renamed");
    assert_eq!(fetched["webhook_url"], created["webhook_url"]);
    assert_eq!(
        fetched["flow_definition"]["nodes"][1]["data"]["config"]["values"]["greeting"],
        "bonjour"
    );

    // A PUT without a definition is still a new version of the same graph.
    let (status, again) = app.update_workflow(id, &json!({"is_active": false})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["version"], 3);
    assert_eq!(again["is_active"], false);
    assert_eq!(again["webhook_url"], created["webhook_url"]);
}

#[tokio::test]
async fn put_to_a_manual_trigger_removes_the_webhook() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let hook_path = created["webhook_url"]
        .as_str()
        .unwrap()
        .strip_prefix(PUBLIC_URL)
        .unwrap()
        .to_string();

    let (status, updated) = app
        .update_workflow(id, &json!({"flow_definition": manual_flow()}))
        .await;

    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["trigger_type"], "trigger.manual");
    assert!(updated.get("webhook_url").is_none(), "{updated}");
    let (_, fetched) = app.get_workflow(id).await;
    assert!(fetched.get("webhook_url").is_none(), "{fetched}");
    assert_eq!(fetched["trigger_type"], "trigger.manual");
    // The old hook no longer starts anything.
    let (status, body) = app.call_hook(&hook_path, "{}", &[]).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn put_with_an_invalid_graph_is_422_and_keeps_the_version() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap();

    let (status, body) = app
        .update_workflow(id, &json!({"flow_definition": {"nodes": [], "edges": []}}))
        .await;

    assert_eq!(status, 422, "{body}");
    assert_error(&body, "INVALID_WORKFLOW");
    let (_, fetched) = app.get_workflow(id).await;
    assert_eq!(fetched["version"], 1);
}

#[tokio::test]
async fn delete_answers_204_then_the_workflow_is_gone() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let hook_path = created["webhook_url"]
        .as_str()
        .unwrap()
        .strip_prefix(PUBLIC_URL)
        .unwrap()
        .to_string();

    let (status, _) = app.delete_workflow(id).await;
    assert_eq!(status, 204);

    let (status, body) = app.get_workflow(id).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, _) = app.delete_workflow(id).await;
    assert_eq!(status, 404);
    let (_, list) = app.list_workflows("").await;
    assert_eq!(list["total"], 0);
    let (status, _) = app.call_hook(&hook_path, "{}", &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn another_users_workflow_is_404_for_every_call() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("mine", app.chatbot().await, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let stranger = app.token_for(Uuid::new_v4());

    let (status, body) = app.get_workflow_as(Some(&stranger), id).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, body) = app
        .update_workflow_as(Some(&stranger), id, &json!({"name": "stolen"}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, body) = app.execute_as(Some(&stranger), id, &json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, body) = app.delete_workflow_as(Some(&stranger), id).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");

    // Nothing changed for the owner, and nothing was run.
    let (status, fetched) = app.get_workflow(id).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["name"], "mine");
    assert_eq!(fetched["version"], 1);
    assert!(app.announced_jobs().await.is_empty());
}

#[tokio::test]
async fn every_workflow_call_needs_a_valid_token() {
    let app = spawn_app().await;
    let id = Uuid::new_v4().to_string();
    let body = workflow_body("x", app.chatbot().await, manual_flow());

    let answers = [
        app.create_workflow_as(None, &body).await,
        app.create_workflow_as(Some("garbage"), &body).await,
        app.get_workflow_as(None, &id).await,
        app.update_workflow_as(None, &id, &json!({"name": "n"}))
            .await,
        app.delete_workflow_as(None, &id).await,
        app.execute_as(None, &id, &json!({})).await,
        read(
            app.client
                .get(app.url("/api/v1/workflows"))
                .send()
                .await
                .unwrap(),
        )
        .await,
    ];
    for (status, body) in answers {
        assert_eq!(status, 401, "{body}");
        assert_error(&body, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn an_event_workflow_reports_its_trigger_type() {
    let app = spawn_app().await;

    let created = app
        .created(&workflow_body(
            "on paid",
            app.chatbot().await,
            event_flow("custom.order_paid", None),
        ))
        .await;

    assert_eq!(created["trigger_type"], "trigger.event");
    assert!(created.get("webhook_url").is_none());
}

#[tokio::test]
async fn a_workflow_belongs_to_one_of_its_owners_chatbots() {
    let app = spawn_app().await;
    let mine = app.chatbot().await;
    let stranger = app.token_for(Uuid::new_v4());
    let theirs = app.chatbot_as(&stranger).await;

    // Another user's chatbot, or none at all, is not found (and nothing is saved).
    for chatbot in [theirs, Uuid::new_v4()] {
        let (status, body) = app
            .create_workflow(&workflow_body("x", chatbot, manual_flow()))
            .await;
        assert_eq!(status, 404, "{body}");
        let error = assert_error(&body, "NOT_FOUND");
        assert_eq!(error["details"]["path"], "chatbot_id");
    }
    let (_, list) = app.list_workflows("").await;
    assert_eq!(list["total"], 0, "{list}");

    let created = app
        .created(&workflow_body("mine", mine, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    // Moving it, or copying it, to another user's chatbot is refused too.
    let (status, body) = app
        .update_workflow(id, &json!({"chatbot_id": theirs}))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get_workflow(id).await;
    assert_eq!(status, 200);
    assert_eq!(body["chatbot_id"], mine.to_string(), "unchanged");
    assert_eq!(body["version"], 1, "no new version");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/workflows/{id}/copy")))
        .bearer_auth(&app.token)
        .json(&json!({"chatbot_id": theirs}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 404, "{body}");
    let (_, list) = app.list_workflows("").await;
    assert_eq!(list["total"], 1, "no copy was made: {list}");
}
