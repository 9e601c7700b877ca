"""Off-AWS tooling: the local stack, fake exchanges and Telegram, the operator CLI, deploy helpers."""
