"""The council's audit on the portal's side: what the audit commands and pages read besides the
ledger itself (the drop's signed manifests, the school roll's phases, the case source)."""
