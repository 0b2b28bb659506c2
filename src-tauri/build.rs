// The app's commands, each given an `allow-…` permission; `capabilities/` grants the
// main window exactly these (through `permissions/app.toml`).
const COMMANDS: &[&str] = &[
    "app_info",
    "passphrase_strength",
    "create_twin",
    "check_recovery_group",
    "save_recovery_code",
    "forget_recovery_code",
    "unlock",
    "recover",
    "lock",
    "still_here",
    "twin",
    "set_field",
    "field_history",
    "opt_in",
    "opt_out",
    "erase",
    "conflicts",
    "choose_value",
    "records",
    "hide_record",
    "requests",
    "approve_request",
    "decline_request",
    "agencies",
    "add_agency",
    "share",
    "grants",
    "access_receipts",
    "revoke",
    "sync",
    "activity",
    "change_passphrase",
    "set_auto_lock",
    "deletion_summary",
    "delete_twin",
    "for_you",
    "add_rule_pack",
    "rule_share",
    "accept_prefill",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("the Tauri configuration and capabilities are valid");
}
