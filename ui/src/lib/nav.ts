// The screens of the unlocked app, in the order the navigation lists them.
export const screens = [
  { id: "twin", label: "My twin" },
  { id: "foryou", label: "For you" },
  { id: "records", label: "Records" },
  { id: "requests", label: "Requests" },
  { id: "sharing", label: "Sharing" },
  { id: "activity", label: "Activity" },
  { id: "conflicts", label: "Conflicts" },
  { id: "settings", label: "Settings" },
] as const;

export type ScreenId = (typeof screens)[number]["id"] | "welcome";
