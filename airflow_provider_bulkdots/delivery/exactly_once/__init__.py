"""Nothing lost, nothing sent twice, free of Airflow.

ledger (intents and acknowledgements that outlive a crash, kept in a key-value store the
caller provides) · readback (the read endpoint) · reconcile (bodies whose reply was lost, read
back) · existing (skip_existing: dots already stored are not sent) · delivery (the sender, the
ledger and read-back composed).
"""
