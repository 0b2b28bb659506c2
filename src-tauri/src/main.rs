// No console window on other platforms; Linux is unaffected.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    citizen_twin::run();
}
