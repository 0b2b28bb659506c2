// Component tests wait for the screen to settle; on a busy shared machine that can take
// seconds, so async queries wait up to 10 s (they return as soon as the condition holds).
import { configure } from "@testing-library/svelte";

configure({ asyncUtilTimeout: 10_000 });
