"""Bench scenarios. Each module defines NAME, DESCRIPTION, TARGET, ORDER and
`async def run(env: bench.run.Env) -> bench.run.ScenarioResult`."""
