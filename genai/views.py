def index(r): pass
def target_detail(r, **k): pass
def bank_detail(r, **k): pass
def evaluation_detail(r, **k): pass
def review_queue(r, **k): pass
def review_item(r, **k): pass
