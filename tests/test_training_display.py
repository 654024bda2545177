"""The live training display: one bar per training seed, moved to what the actors report."""

from __future__ import annotations

from snnjob.messages import TrainProgress
from snnjob.results.runinfo import TrainingMetrics
from snnjob.training import TrainingDisplay


def test_bars_follow_the_reported_state(capsys):
    display = TrainingDisplay(["train seed 0", "train seed 3"], enabled=True)
    display.show(0, TrainProgress(epoch=2, epochs=4, batch=5, batches=10, loss=0.25))
    display.show(1, None)  # no minibatch yet: unchanged
    bar0, bar3 = display.bars[0], display.bars[1]
    assert (bar0.n, bar0.total) == (15, 40)
    assert "epoch 2/4" in bar0.postfix and "loss 0.2500" in bar0.postfix
    assert (bar3.n, bar3.total) == (0, 0)
    display.finish(0, TrainingMetrics(epochs=4, final_loss=0.125))
    assert bar0.n == 40 and "done, loss 0.1250" in bar0.postfix
    display.close()
    err = capsys.readouterr().err
    assert "train seed 0" in err and "train seed 3" in err


def test_disabled_display_prints_nothing(capsys):
    display = TrainingDisplay(["train seed 0"], enabled=False)
    display.show(0, TrainProgress(epoch=1, epochs=1, batch=1, batches=2, loss=1.0))
    display.close()
    assert capsys.readouterr().err == ""


def test_a_log_gets_a_line_per_epoch_or_interval_not_one_per_poll(capsys):
    display = TrainingDisplay(["train seed 0"], enabled=True, min_interval=3600.0)
    capsys.readouterr()  # the empty bar drawn at start
    for epoch in (1, 2):
        for batch in range(1, 51):  # fifty polls within each epoch
            display.show(0, TrainProgress(epoch=epoch, epochs=2, batch=batch, batches=50,
                                          loss=1.0 / batch))  # fmt: skip
    err = capsys.readouterr().err
    draws = err.count("train seed 0")
    assert draws == 2, err  # the first poll of each epoch
    assert "epoch 1/2" in err and "epoch 2/2" in err
    display.close()  # the final state is drawn on close
    assert "100/100" in capsys.readouterr().err


def test_a_terminal_redraws_every_poll(capsys):
    display = TrainingDisplay(["train seed 0"], enabled=True, min_interval=0.0)
    capsys.readouterr()  # the empty bar drawn at start
    for batch in range(1, 6):
        display.show(0, TrainProgress(epoch=1, epochs=1, batch=batch, batches=5, loss=0.5))
    assert capsys.readouterr().err.count("train seed 0") == 5


def test_a_minibatch_without_a_loss_and_a_training_without_one(capsys):
    display = TrainingDisplay(["train seed 0"], enabled=True)
    display.show(0, TrainProgress(epoch=1, epochs=2, batch=3, batches=4))  # loss None
    bar = display.bars[0]
    assert (bar.n, bar.total) == (3, 8)
    assert bar.postfix == "epoch 1/2"
    display.finish(0, TrainingMetrics())  # no epoch ran: no final loss
    assert bar.n == 8 and bar.postfix == "done"
    display.close()
