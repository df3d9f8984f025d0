from nstvideo.cli import run

run()
