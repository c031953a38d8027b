"""Fast convolutions with Conv2D's weights, names and outputs.

WindowConv2D: the box head's "fully connected" convs (a kernel that covers
the whole input) as one matrix product. SparseGradConv2D: rpn_conv_shared,
whose backward pass is computed only where the RPN losses put a gradient.
Both report their class name as "Conv2D", so code that picks layers by
class name (matterport's inspect_weights notebook) sees Conv2D layers.
"""

import keras
import tensorflow as tf
from keras import layers as KL


@keras.saving.register_keras_serializable(package="mrcnn")
class WindowConv2D(KL.Conv2D):
    """A "valid" Conv2D whose kernel covers its whole input (the box head's
    7x7 and 1x1 "fully connected" convs), computed as one matrix product.

    Same weights, names and outputs as KL.Conv2D (matterport's weight files
    load unchanged); a matmul is up to 2x faster than the conv kernel for
    this shape, forward and backward.

    Input: [N, kh, kw, channels] with (kh, kw) = kernel_size.
    Output: [N, 1, 1, filters].
    """

    def call(self, inputs):
        kh, kw = self.kernel_size
        if (inputs.shape[1], inputs.shape[2]) != (kh, kw) or self.padding != "valid":
            return super().call(inputs)
        flat = tf.reshape(inputs, [-1, kh * kw * inputs.shape[-1]])
        kernel = tf.reshape(self.kernel, [-1, self.filters])
        x = tf.matmul(flat, tf.cast(kernel, flat.dtype))
        if self.use_bias:
            x = tf.nn.bias_add(x, tf.cast(self.bias, x.dtype))
        if self.activation is not None:
            x = self.activation(x)
        return tf.reshape(x, [-1, 1, 1, self.filters])


WindowConv2D.__name__ = WindowConv2D.__qualname__ = "Conv2D"


def _conv_relu_sparse_grad(x, kernel, bias, dense_fraction):
    """relu(conv2d(x, kernel, stride 1, "same") + bias) whose gradient is
    computed only where the incoming gradient is non-zero.

    The RPN's losses look at RPN_TRAIN_ANCHORS_PER_IMAGE sampled anchors and
    the anchors of a few positive proposals: a few hundred of the feature
    map's positions. The gradient reaching rpn_conv_shared is zero
    everywhere else, yet the dense backward convolutions (filter and input
    gradients, twice the forward's work) multiply all those zeros. Here the
    non-zero positions are gathered (K of them), the filter gradient is one
    [K, kh * kw * Cin]^T x [K, Cout] product over their input patches, and the
    input gradient a [K, Cout] x [Cout, kh * kw * Cin] product scattered back
    onto the patches: the same sums in another order (float32 round-off).
    When more than ``dense_fraction`` of the positions carry a gradient the
    dense kernels are used.

    x: [N, H, W, Cin]; kernel: [kh, kw, Cin, Cout] (odd kh, kw); bias: [Cout].
    Returns [N, H, W, Cout].
    """
    kh, kw, cin, cout = kernel.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    offsets = tf.constant([[0, i, j] for i in range(kh) for j in range(kw)], tf.int64)

    @tf.custom_gradient
    def conv(x, kernel, bias):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.convolution(x, kernel, padding="SAME"), bias))

        def grad(dy):
            dz = tf.raw_ops.ReluGrad(gradients=dy, features=y)
            dbias = tf.reduce_sum(dz, axis=[0, 1, 2])
            where = tf.where(tf.reduce_any(tf.not_equal(dz, 0), axis=-1))   # [K, (n, i, j)]
            count = tf.shape(where)[0]
            shape = tf.shape(x)
            positions = shape[0] * shape[1] * shape[2]

            def sparse():
                dzk = tf.gather_nd(dz, where)                                  # [K, Cout]
                padded = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
                # Patch element (i, j) of output (n, y, x) is padded[n, y+i, x+j].
                taps = where[:, None, :] + offsets[None]                       # [K, kh*kw, 3]
                patches = tf.reshape(tf.gather_nd(padded, taps), [count, kh * kw * cin])
                dkernel = tf.reshape(tf.matmul(patches, dzk, transpose_a=True),
                                     [kh, kw, cin, cout])
                dpatches = tf.matmul(dzk, tf.reshape(kernel, [kh * kw * cin, cout]),
                                     transpose_b=True)
                dpadded = tf.scatter_nd(tf.reshape(taps, [-1, 3]),
                                        tf.reshape(dpatches, [-1, cin]),
                                        tf.shape(padded, out_type=tf.int64))
                dx = dpadded[:, ph:ph + shape[1], pw:pw + shape[2], :]
                return dx, dkernel

            def dense():
                strides = [1, 1, 1, 1]
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=shape, filter=kernel, out_backprop=dz, strides=strides,
                    padding="SAME")
                dkernel = tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(kernel), out_backprop=dz, strides=strides,
                    padding="SAME")
                return dx, dkernel

            use_sparse = tf.cast(count, tf.float32) <= dense_fraction * tf.cast(positions,
                                                                                  tf.float32)
            dx, dkernel = tf.cond(use_sparse, sparse, dense)
            return dx, dkernel, dbias

        return y, grad

    return conv(x, kernel, bias)


@keras.saving.register_keras_serializable(package="mrcnn")
class SparseGradConv2D(KL.Conv2D):
    """Conv2D (stride 1, "same", odd kernel, ReLU) whose training gradient is
    computed only at the output positions that receive one (see
    `_conv_relu_sparse_grad`): rpn_conv_shared, where the RPN losses touch a
    few hundred of the thousands of positions (about 5% at 256x256 in the
    shapes benchmark; at most 0.4% at 1024x1024 with the default sampling).

    Same weights, names and forward outputs as KL.Conv2D; at inference (or
    any other configuration) it is KL.Conv2D.

    Input: [batch, height, width, channels]. Output: [batch, height, width,
    filters].
    """

    # Above this fraction of positions with a gradient, the dense kernels win.
    dense_fraction = 0.25

    def _sparse_ok(self):
        kh, kw = self.kernel_size
        return (self.padding == "same" and tuple(self.strides) == (1, 1)
                and tuple(self.dilation_rate) == (1, 1) and kh % 2 == 1 and kw % 2 == 1
                and self.groups == 1 and self.use_bias and self.data_format == "channels_last"
                and self.activation is keras.activations.relu)

    def call(self, inputs, training=None):
        if not training or not self._sparse_ok():
            return super().call(inputs)
        kernel = tf.cast(self.kernel, inputs.dtype)
        bias = tf.cast(self.bias, inputs.dtype)
        return _conv_relu_sparse_grad(inputs, kernel, bias, self.dense_fraction)


SparseGradConv2D.__name__ = SparseGradConv2D.__qualname__ = "Conv2D"
