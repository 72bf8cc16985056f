#!/bin/bash
# Train one clstmctc model on the ranks of a Slurm job over MPI (pip install 'clstmtools[mpi]' on every node).
#
#   save_name=book testset=test.txt test_every=1000 optimizer=adam lrate=1e-3 \
#     sbatch scripts/slurm-mpi.sh train.txt           # settings come from the environment, as always
#   sbatch --nodes=4 scripts/slurm-mpi.sh train.txt   # more ranks (minibatch= is the global minibatch)
#   bash scripts/slurm-mpi.sh train.txt               # outside Slurm: two ranks on this machine
#
# Every rank holds the whole model; each step every rank trains on its share of the global minibatch,
# one Allreduce sums the deltas and every rank makes the same update. Rank 0 alone prints and writes
# (models, curve). SIGTERM, sent two minutes before the time limit, stops every rank at the next step
# and rank 0 saves save_name-interrupted.h5; the same job with load=save_name-interrupted.h5 goes on
# exactly. The folder must be shared by the nodes (the data, and rank 0's models).
#SBATCH --job-name=clstm-mpi
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=4
#SBATCH --time=12:00:00
#SBATCH --signal=TERM@120
#SBATCH --output=clstm-mpi-%j.log
set -euo pipefail

# threads per rank: the cores Slurm gives each task (without Slurm: one)
export threads="${threads:-${SLURM_CPUS_PER_TASK:-1}}"
# the global minibatch, split among the ranks: at least one line a rank
export minibatch="${minibatch:-32}"

if [ -n "${SLURM_JOB_ID:-}" ]; then
    # srun starts the ranks; MPICH (the mpich wheel) talks PMI-2 with Slurm. With Open MPI or PMIx:
    # srun --mpi=pmix; or, inside the allocation: mpiexec -n "$SLURM_NTASKS" clstmctc "$@"
    exec srun --mpi=pmi2 clstmctc "$@"
else
    exec mpiexec -n "${ranks:-2}" clstmctc "$@"
fi
