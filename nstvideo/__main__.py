from nstvideo.entry import run

run()
