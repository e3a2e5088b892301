"""What a task leaves in Airflow and on disk, beside the dots it sends.

ledger (the delivery ledger in the task instance's state store, or a Variable) · watermarks
(incremental loads: the last timestamp stored per series) · assets (the asset events of a
delivery) · lineage (OpenLineage facets) · rejected (the rejected-rows file) · summary (the
XCom summary of a task).
"""
