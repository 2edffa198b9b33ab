"""Training package of imdb-edge (TensorFlow/Keras, tf2onnx): not part of the runtime wheel.

``python -m train reproduce --data PATH --out DIR`` runs the book's experiment from raw text;
``python -m train sweep`` its further experiments. Vectorizing goes through ``imdb_edge``, so
what is trained is exactly what the runtime scores.
"""
