"""Training data and training: ``prepare`` (chip datasets from a reference map) and ``train``.

Nothing is imported here: the command line reads :mod:`~lulcmap.training.options` to build its
options without paying for torch and the training loop. The public API, by module:

* :mod:`~lulcmap.training.prepare`: :func:`~lulcmap.training.prepare.prepare_dataset`, scenes +
  reference + crosswalk + DEM/climate -> a chip dataset (its format, writer and reader:
  :mod:`lulcmap.chipdata`);
* :mod:`~lulcmap.training.reference` (:func:`~lulcmap.training.reference.open_reference`),
  :mod:`~lulcmap.training.vector`: exact class fractions of chip footprints from a raster or
  polygon reference, with :mod:`~lulcmap.training.fractions` (what both share) and
  :mod:`~lulcmap.training.coverage` (the exact pixel weights behind them);
* :mod:`~lulcmap.training.train`: :func:`~lulcmap.training.train.train_model`, a chip dataset ->
  a trained, carded, evaluated model (:class:`~lulcmap.training.train.TrainResult`), with
  :mod:`~lulcmap.training.split` (:class:`~lulcmap.training.split.BlockSplit`,
  :func:`~lulcmap.training.split.split_chips`: the spatial block split),
  :mod:`~lulcmap.training.loop` (loss, optimiser, best checkpoint),
  :mod:`~lulcmap.training.augment` (flips and rotations), :mod:`~lulcmap.training.record`
  (what the card records) and :mod:`~lulcmap.training.options`
  (:class:`~lulcmap.training.options.TrainOptions`);
* :mod:`~lulcmap.training.outputs`: :func:`~lulcmap.training.outputs.run_train` and
  :func:`~lulcmap.training.outputs.save_model`, the model folder.
"""
