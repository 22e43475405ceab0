"""Fast feedback: one release report rendered to the MR card, commit status, DingTalk, Slack and email."""
