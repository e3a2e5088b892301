"""The operators' extra links: buttons on a task instance that open the Ubidots web app."""
