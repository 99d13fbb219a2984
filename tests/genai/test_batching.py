"""How the local model's prompts are batched (genai.sandboxed.batches): by length in tokens, at most `size`
a batch, and a long prompt never pads a batch of short ones to its length."""

from genai.sandboxed import batches


def test_it_batches_by_length_shortest_first():
    assert batches([5, 3, 4, 3], 2) == [[1, 3], [2, 0]]
    assert batches([], 4) == []


def test_a_long_prompt_gets_a_batch_of_its_own():
    lengths = [90] * 43 + [294]
    assert batches(lengths, 64) == [list(range(43)), [43]]


def test_padding_stays_within_a_quarter_of_the_real_tokens():
    lengths = [36 + i // 3 for i in range(240)] + [157, 160, 294]
    for batch in batches(lengths, 64):
        real = sum(lengths[i] for i in batch)
        assert len(batch) <= 64 and len(batch) * max(lengths[i] for i in batch) <= 1.25 * real
