using System;

namespace KernelHarness.Runtime;

/// <summary>
/// How a simulated machine is built: CPUs, memory and zones, the scheduler's seed and how often it
/// interleaves, and the debug options. Every field has Linux's (or a test-friendly) default.
/// </summary>
public sealed record MachineConfig
{
    /// <summary>Simulated CPUs (default 4).</summary>
    public int Cpus { get; init; } = 4;

    /// <summary>The seed every scheduling, preemption and interrupt decision derives from.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Physical memory in MiB (default 256), split into zones below.</summary>
    public int MemoryMiB { get; init; } = 256;

    /// <summary>The end of ZONE_DMA in MiB (Linux: 16 MiB).</summary>
    public int DmaZoneMiB { get; init; } = 16;

    /// <summary>The end of ZONE_DMA32 in MiB (Linux: 4 GiB; here a share of the machine's memory).</summary>
    public int Dma32ZoneEndMiB { get; init; } = 64;

    /// <summary>The start of ZONE_HIGHMEM in MiB; memory above it is highmem (0 = no highmem).</summary>
    public int HighmemStartMiB { get; init; } = 224;

    /// <summary>The VMA limit per address space (<c>sysctl_max_map_count</c>).</summary>
    public int MaxMapCount { get; init; } = Kernel.DEFAULT_MAX_MAP_COUNT;

    /// <summary>Kernel API calls between timer ticks (one jiffy of simulated time).</summary>
    public int CallsPerTick { get; init; } = 64;

    /// <summary>The chance, in parts per 1024, that a kernel API call in preemptible code is a preemption point taken.</summary>
    public int PreemptPer1024 { get; init; } = 48;

    /// <summary>The chance, in parts per 1024, that a kernel API call lets another CPU run.</summary>
    public int CpuSwitchPer1024 { get; init; } = 96;

    /// <summary>Jiffies at boot. Linux starts five minutes before a 32-bit wrap to flush out wrap bugs.</summary>
    public ulong InitialJiffies { get; init; } = unchecked((ulong)(uint)(-300 * (int)Kernel.HZ));

    /// <summary>Spins on a contended spinlock before "BUG: spinlock lockup suspected".</summary>
    public int SpinLockupThreshold { get; init; } = 200_000;

    /// <summary>Wall-clock limit for one <see cref="Machine.Run(Action)"/>: code that never calls the kernel API cannot be preempted.</summary>
    public TimeSpan WallClockLimit { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Record every scheduling event in <see cref="Machine.Trace"/> (for determinism tests and replay).</summary>
    public bool Trace { get; init; }

    /// <summary>Capture a stack when a task blocks, for hung-task reports.</summary>
    public bool CaptureBlockedStacks { get; init; } = true;

    /// <summary>Fill memory with a pattern the first time a frame is touched, so missing zeroing shows.</summary>
    public bool ScribbleFreshMemory { get; init; } = true;

    /// <summary>KASAN-style checks on the kernel's memory accessors.</summary>
    public bool Kasan { get; init; } = true;

    /// <summary>lockdep-style lock validation.</summary>
    public bool Lockdep { get; init; } = true;

    /// <summary>The name of the first task, which runs the body given to <c>Run</c>.</summary>
    public string InitTaskName { get; init; } = "insmod";

    /// <summary>Interrupt lines of the interrupt controller.</summary>
    public int NrIrqs { get; init; } = 64;

    /// <summary>
    /// Lines the machine raises by itself, as devices would (empty: none). At each kernel API call one
    /// of them is raised with the chance <see cref="RandomIrqPer1024"/>, from a stream derived from
    /// <see cref="Seed"/> (separate from the scheduler's, so turning it on does not change other decisions).
    /// </summary>
    public System.Collections.Generic.IReadOnlyList<uint> RandomIrqLines { get; init; } = Array.Empty<uint>();

    /// <summary>The chance, in parts per 1024, that a kernel API call raises one of <see cref="RandomIrqLines"/>.</summary>
    public int RandomIrqPer1024 { get; init; } = 32;
}
