"""The request edge: declared routes compiled into one pure-ASGI pass (issue 12)."""
