"""Platform adapters: Slack, Teams and the console, plus the goalbot command line."""
