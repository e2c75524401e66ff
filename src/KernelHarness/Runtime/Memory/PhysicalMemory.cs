using System;
using System.Collections.Generic;

namespace KernelHarness.Runtime;

/// <summary>
/// Simulated physical memory, page-framed, with zone boundaries, reached through the direct map at
/// <c>PAGE_OFFSET</c>; and the vmalloc area's mappings. Storage is allocated lazily in 4 MiB chunks —
/// the size of a <c>MAX_PAGE_ORDER</c> block, so no buddy block or object in one straddles two chunks.
/// Fresh chunks are scribbled with a pattern so code that forgets to zero memory is caught.
/// </summary>
internal sealed class PhysicalMemory
{
    public const int ChunkShift = Kernel.PAGE_SHIFT + Kernel.MAX_PAGE_ORDER; // 4 MiB
    public const ulong ChunkSize = 1UL << ChunkShift;

    private readonly Machine machine;
    private readonly byte[]?[] chunks;
    private readonly page?[] memMap;
    private readonly List<VmArea> vmAreas = new(); // sorted by start

    public PhysicalMemory(Machine machine)
    {
        this.machine = machine;
        var cfg = machine.Config;
        if (cfg.MemoryMiB < 8 || cfg.MemoryMiB % 4 != 0)
            throw new ArgumentOutOfRangeException(nameof(machine), cfg.MemoryMiB, "Memory is a multiple of 4 MiB, at least 8 MiB.");
        TotalPages = (ulong)cfg.MemoryMiB << (20 - Kernel.PAGE_SHIFT);
        chunks = new byte[]?[(int)(((ulong)cfg.MemoryMiB << 20) >> ChunkShift)];
        memMap = new page?[TotalPages];
        ulong mib = 1UL << (20 - Kernel.PAGE_SHIFT);
        ulong dmaEnd = Math.Min(TotalPages, (ulong)cfg.DmaZoneMiB * mib);
        ulong dma32End = Math.Min(TotalPages, Math.Max(dmaEnd, (ulong)cfg.Dma32ZoneEndMiB * mib));
        ulong highStart = cfg.HighmemStartMiB <= 0 ? TotalPages : Math.Min(TotalPages, Math.Max(dma32End, (ulong)cfg.HighmemStartMiB * mib));
        ZoneStart = new ulong[Kernel.MAX_NR_ZONES];
        ZoneEnd = new ulong[Kernel.MAX_NR_ZONES];
        SetZone(zone_type.ZONE_DMA, 0, dmaEnd);
        SetZone(zone_type.ZONE_DMA32, dmaEnd, dma32End);
        SetZone(zone_type.ZONE_NORMAL, dma32End, highStart);
        SetZone(zone_type.ZONE_HIGHMEM, highStart, TotalPages);
        SetZone(zone_type.ZONE_MOVABLE, TotalPages, TotalPages);
    }

    private void SetZone(zone_type zone, ulong start, ulong end)
    {
        ZoneStart[(int)zone] = start;
        ZoneEnd[(int)zone] = end;
    }

    /// <summary>Calls of the Arch memory accessors (mem_map, raw_span, raw_ref): deterministic work for performance tests.</summary>
    internal long ArchOps;

    /// <summary>Page frames in the machine (<c>max_pfn</c>).</summary>
    public ulong TotalPages { get; }

    /// <summary>First and one-past-last pfn of each zone.</summary>
    public ulong[] ZoneStart { get; }
    public ulong[] ZoneEnd { get; }

    public zone_type ZoneOf(ulong pfn)
    {
        for (int z = 0; z < Kernel.MAX_NR_ZONES; z++)
        {
            if (pfn >= ZoneStart[z] && pfn < ZoneEnd[z])
                return (zone_type)z;
        }
        throw new ArgumentOutOfRangeException(nameof(pfn), pfn, "No such page frame.");
    }

    /// <summary>The <c>struct page</c> of a frame (created on first use).</summary>
    public page PfnToPage(ulong pfn)
    {
        if (pfn >= TotalPages)
            throw new ArgumentOutOfRangeException(nameof(pfn), pfn, $"pfn {pfn:x} is beyond max_pfn {TotalPages:x}.");
        return memMap[pfn] ??= new page(pfn, ZoneOf(pfn));
    }

    public bool IsDirectMap(ulong addr) => addr >= Kernel.PAGE_OFFSET && addr - Kernel.PAGE_OFFSET < TotalPages << Kernel.PAGE_SHIFT;

    public static bool IsVmalloc(ulong addr) => addr >= Kernel.VMALLOC_START && addr <= Kernel.VMALLOC_END;

    /// <summary>The bytes at a kernel virtual address, unchecked (the hardware's view); null when nothing is mapped there.</summary>
    public bool TryTranslate(ulong addr, ulong len, out Span<byte> span)
    {
        span = default;
        if (len > int.MaxValue)
            return false;
        if (IsDirectMap(addr))
        {
            ulong phys = addr - Kernel.PAGE_OFFSET;
            int chunk = (int)(phys >> ChunkShift);
            ulong offset = phys & (ChunkSize - 1);
            if (offset + len > ChunkSize)
                return false;
            span = Chunk(chunk).AsSpan((int)offset, (int)len);
            return true;
        }
        if (IsVmalloc(addr))
        {
            var area = FindVmArea(addr);
            if (area is null || addr + len > area.Start + (ulong)area.Data.Length)
                return false;
            span = area.Data.AsSpan((int)(addr - area.Start), (int)len);
            return true;
        }
        return false;
    }

    /// <summary>
    /// The 8-byte word at a direct-map address, for an allocator's own metadata on its hot path (what
    /// <see cref="Arch.raw_ref{T}"/> does, without finding the machine again): counts as one Arch
    /// memory operation; an address outside the direct map faults as <see cref="Arch.raw_ref{T}"/> does.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal ref ulong RawWord(ulong addr)
    {
        ArchOps++;
        ulong phys = addr - Kernel.PAGE_OFFSET;
        ulong offset = phys & (ChunkSize - 1);
        if (phys >= TotalPages << Kernel.PAGE_SHIFT || offset > ChunkSize - sizeof(ulong))
            return ref RawWordSlow(addr);
        var chunk = chunks[(int)(phys >> ChunkShift)] ?? Chunk((int)(phys >> ChunkShift));
        return ref System.Runtime.CompilerServices.Unsafe.As<byte, ulong>(
            ref System.Runtime.CompilerServices.Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(chunk), (nint)offset));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private ref ulong RawWordSlow(ulong addr)
    {
        if (!TryTranslate(addr, sizeof(ulong), out var span))
            throw Arch.PageFault(addr, sizeof(ulong));
        return ref System.Runtime.InteropServices.MemoryMarshal.AsRef<ulong>(span);
    }

    /// <summary>The storage chunk that holds page frame <paramref name="pfn"/> (a block of at most <c>MAX_PAGE_ORDER</c> never straddles two).</summary>
    internal byte[] ChunkOfPfn(ulong pfn) => Chunk((int)((pfn << Kernel.PAGE_SHIFT) >> ChunkShift));

    /// <summary>
    /// The word at <paramref name="addr"/> inside <paramref name="chunk"/> (from <see cref="ChunkOfPfn"/> of a block
    /// that contains the address): <see cref="RawWord"/> without finding the chunk; one Arch memory operation.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal ref ulong RawWordIn(byte[] chunk, ulong addr)
    {
        ArchOps++;
        int offset = (int)((addr - Kernel.PAGE_OFFSET) & (ChunkSize - 1));
        return ref System.Runtime.CompilerServices.Unsafe.As<byte, ulong>(ref chunk[offset]);
    }

    /// <summary>
    /// The <c>struct page</c> (its compound head) of a direct-map address, or null outside the direct map:
    /// <c>virt_to_page</c> + <c>compound_head</c> for an allocator's hot path; counts as one Arch memory operation.
    /// </summary>
    internal page? HeadPageOf(ulong addr)
    {
        ulong pfn = (addr - Kernel.PAGE_OFFSET) >> Kernel.PAGE_SHIFT;
        if (addr < Kernel.PAGE_OFFSET || pfn >= TotalPages)
            return null;
        ArchOps++;
        var page = memMap[pfn] ?? PfnToPage(pfn);
        return page.compound_head ?? page;
    }

    private byte[] Chunk(int index)
    {
        var chunk = chunks[index];
        if (chunk is null)
        {
            chunk = GC.AllocateUninitializedArray<byte>((int)ChunkSize);
            if (machine.Config.ScribbleFreshMemory)
                Scribble(chunk, (ulong)index);
            else
                Array.Clear(chunk);
            chunks[index] = chunk;
        }
        return chunk;
    }

    private static void Scribble(byte[] chunk, ulong seed)
    {
        // Deterministic non-zero garbage: what a real page holds after its previous owner.
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(chunk.AsSpan());
        ulong x = 0x9E3779B97F4A7C15UL ^ (seed * 0xBF58476D1CE4E5B9UL);
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words[i] = x | 0x0101010101010101UL;
        }
    }

    /// <summary>A vmalloc-area mapping: the implementation maps pages it allocated; the data lives with the mapping.</summary>
    internal sealed class VmArea
    {
        public VmArea(ulong start, byte[] data, page[] pages)
        {
            Start = start;
            Data = data;
            Pages = pages;
        }

        public readonly ulong Start;
        public readonly byte[] Data;
        public readonly page[] Pages;
    }

    public void MapVmArea(ulong start, page[] pages)
    {
        if (!IsVmalloc(start) || (start & (Kernel.PAGE_SIZE - 1)) != 0)
            throw new ArgumentException($"0x{start:x} is not a page-aligned vmalloc address.", nameof(start));
        ulong size = (ulong)pages.Length << Kernel.PAGE_SHIFT;
        int at = vmAreas.FindIndex(a => a.Start >= start);
        if (at < 0)
            at = vmAreas.Count;
        if (at < vmAreas.Count && vmAreas[at].Start < start + size)
            throw new InvalidOperationException($"vmap: 0x{start:x} overlaps an existing vmalloc mapping.");
        if (at > 0 && vmAreas[at - 1].Start + (ulong)vmAreas[at - 1].Data.Length > start)
            throw new InvalidOperationException($"vmap: 0x{start:x} overlaps an existing vmalloc mapping.");
        var data = new byte[size];
        if (machine.Config.ScribbleFreshMemory)
            Scribble(data, start);
        vmAreas.Insert(at, new VmArea(start, data, pages));
    }

    public page[]? UnmapVmArea(ulong start)
    {
        int i = vmAreas.FindIndex(a => a.Start == start);
        if (i < 0)
            return null;
        var pages = vmAreas[i].Pages;
        vmAreas.RemoveAt(i);
        return pages;
    }

    public VmArea? FindVmArea(ulong addr)
    {
        int lo = 0, hi = vmAreas.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var a = vmAreas[mid];
            if (addr < a.Start)
                hi = mid - 1;
            else if (addr >= a.Start + (ulong)a.Data.Length)
                lo = mid + 1;
            else
                return a;
        }
        return null;
    }
}
