"""The web page of ``colorize serve``: a small Starlette app around a :class:`~colorize.infer.Colorizer`.

Needs the ``web`` extra (``pip install -e ".[web]"``): Starlette and uvicorn.

    from colorize.serve.app import create_app, run
    run(create_app(Colorizer.from_pretrained()), host="127.0.0.1", port=7860)
"""
