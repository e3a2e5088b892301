"""What a delivery reports, free of Airflow.

results (one body's result, the delivery's summary, the dots the API refused) · progress
(log lines with an ETA).
"""
