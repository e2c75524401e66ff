using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;

namespace KernelHarness.Reference.AddressSpace;

/// <summary>
/// The VMA set of an address space (Linux: the maple tree <c>mm-&gt;mm_mt</c>): VMAs ordered by
/// address, keyed by <c>vm_end</c>, so that <c>find_vma(addr)</c> — the first VMA with
/// <c>vm_end &gt; addr</c> — is an upper-bound search.
/// </summary>
/// <remarks>
/// A two-level B+-tree: leaves ("blocks") of up to <see cref="BlockMax"/> VMAs in address order, and
/// a root array holding the last <c>vm_end</c> of every leaf. A lookup is two binary searches over
/// contiguous <c>ulong</c> arrays (O(log n), cache friendly); an insert or removal shifts one leaf and,
/// when a leaf splits or empties, the root (O(B + n/B)). Invariants: VMAs never overlap, so ordering
/// by <c>vm_end</c> is ordering by <c>vm_start</c>; every leaf is non-empty; <c>lastEnd[b]</c> is the
/// key of leaf b's last VMA. A VMA's <c>vm_end</c> may change only through <see cref="UpdateEnd"/>.
/// </remarks>
internal sealed class VmaTree
{
    internal const int BlockMax = 128;

    private sealed class Block
    {
        public readonly ulong[] Ends = new ulong[BlockMax];
        public readonly vm_area_struct[] Vmas = new vm_area_struct[BlockMax];
        public int N;
    }

    private Block[] blocks = new Block[4];
    private ulong[] lastEnd = new ulong[4];
    private int nblocks;
    private int count;

    /// <summary>The number of VMAs.</summary>
    public int Count => count;

    /// <summary>A position: leaf and slot. <c>B == nblocks</c> is "past the end".</summary>
    internal struct Cursor
    {
        public int B;
        public int I;
    }

    // ---- Lookups ----

    /// <summary>The first VMA with <c>vm_end &gt; addr</c>, or null (find_vma).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public vm_area_struct? Find(ulong addr)
    {
        var c = UpperBound(addr);
        return c.B < nblocks ? blocks[c.B].Vmas[c.I] : null;
    }

    /// <summary>The cursor at the first VMA with <c>vm_end &gt; addr</c> (past the end when none).</summary>
    public Cursor UpperBound(ulong addr)
    {
        var ends = lastEnd;
        int lo = 0, hi = nblocks;
        while (lo < hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (ends[mid] > addr)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo == nblocks)
            return new Cursor { B = lo, I = 0 };
        var block = blocks[lo];
        var keys = block.Ends;
        int l = 0, h = block.N - 1; // the last key is > addr, so the answer is in [0, N-1]
        while (l < h)
        {
            int mid = (int)((uint)(l + h) >> 1);
            if (keys[mid] > addr)
                h = mid;
            else
                l = mid + 1;
        }
        return new Cursor { B = lo, I = l };
    }

    /// <summary>The VMA at a cursor, or null past the end (or before the start).</summary>
    public vm_area_struct? At(Cursor c) => c.B >= 0 && c.B < nblocks ? blocks[c.B].Vmas[c.I] : null;

    /// <summary>Moves to the previous VMA; false (and B = -1) when there is none.</summary>
    public bool MovePrev(ref Cursor c)
    {
        if (c.B >= nblocks)
        {
            if (nblocks == 0)
            {
                c.B = -1;
                return false;
            }
            c.B = nblocks - 1;
            c.I = blocks[c.B].N - 1;
            return true;
        }
        if (c.I > 0)
        {
            c.I--;
            return true;
        }
        if (c.B == 0)
        {
            c.B = -1;
            return false;
        }
        c.B--;
        c.I = blocks[c.B].N - 1;
        return true;
    }

    /// <summary>Moves to the next VMA; false when past the end.</summary>
    public bool MoveNext(ref Cursor c)
    {
        if (c.B >= nblocks)
            return false;
        if (++c.I < blocks[c.B].N)
            return true;
        c.B++;
        c.I = 0;
        return c.B < nblocks;
    }

    /// <summary>The VMA before <paramref name="vma"/> (which is in the tree), or null.</summary>
    public vm_area_struct? Prev(vm_area_struct vma)
    {
        var c = UpperBound(vma.vm_end - 1);
        return MovePrev(ref c) ? At(c) : null;
    }

    /// <summary>The VMA after <paramref name="vma"/>, or null.</summary>
    public vm_area_struct? Next(vm_area_struct vma) => Find(vma.vm_end);

    /// <summary>The lowest VMA, or null.</summary>
    public vm_area_struct? First => nblocks == 0 ? null : blocks[0].Vmas[0];

    /// <summary>The highest VMA, or null.</summary>
    public vm_area_struct? Last => nblocks == 0 ? null : blocks[nblocks - 1].Vmas[blocks[nblocks - 1].N - 1];

    /// <summary>Every VMA in address order (a snapshot: safe to change the tree while walking it).</summary>
    public List<vm_area_struct> ToList()
    {
        var list = new List<vm_area_struct>(count);
        for (int b = 0; b < nblocks; b++)
        {
            var block = blocks[b];
            for (int i = 0; i < block.N; i++)
                list.Add(block.Vmas[i]);
        }
        return list;
    }

    // ---- Changes ----

    /// <summary>Inserts a VMA that overlaps none in the tree.</summary>
    public void Insert(vm_area_struct vma)
    {
        ulong key = vma.vm_end;
        if (nblocks == 0)
        {
            InsertBlock(0, new Block());
        }
        var c = UpperBound(key);
        if (c.B == nblocks)
        {
            // Above every VMA: append to the last leaf.
            c.B = nblocks - 1;
            c.I = blocks[c.B].N;
        }
        var block = blocks[c.B];
        if (block.N == BlockMax)
        {
            SplitBlock(c.B);
            if (c.I > BlockMax / 2)
            {
                c.B++;
                c.I -= BlockMax / 2;
            }
            block = blocks[c.B];
        }
        Array.Copy(block.Ends, c.I, block.Ends, c.I + 1, block.N - c.I);
        Array.Copy(block.Vmas, c.I, block.Vmas, c.I + 1, block.N - c.I);
        block.Ends[c.I] = key;
        block.Vmas[c.I] = vma;
        block.N++;
        lastEnd[c.B] = block.Ends[block.N - 1];
        count++;
    }

    /// <summary>Removes a VMA (looked up by its current <c>vm_end</c>); false when it is not in the tree.</summary>
    public bool Remove(vm_area_struct vma)
    {
        var c = UpperBound(vma.vm_end - 1);
        if (c.B >= nblocks || !ReferenceEquals(blocks[c.B].Vmas[c.I], vma))
            return false;
        var block = blocks[c.B];
        block.N--;
        Array.Copy(block.Ends, c.I + 1, block.Ends, c.I, block.N - c.I);
        Array.Copy(block.Vmas, c.I + 1, block.Vmas, c.I, block.N - c.I);
        block.Vmas[block.N] = null!;
        count--;
        if (block.N == 0)
        {
            RemoveBlock(c.B);
            return true;
        }
        lastEnd[c.B] = block.Ends[block.N - 1];
        // Keep leaves reasonably full: merge with a neighbour when both fit in half a leaf.
        if (c.B + 1 < nblocks && block.N + blocks[c.B + 1].N <= BlockMax / 2)
            MergeBlocks(c.B);
        else if (c.B > 0 && block.N + blocks[c.B - 1].N <= BlockMax / 2)
            MergeBlocks(c.B - 1);
        return true;
    }

    /// <summary>Records that <paramref name="vma"/>'s <c>vm_end</c> changed from <paramref name="oldEnd"/> (it must still not overlap its neighbours).</summary>
    public void UpdateEnd(vm_area_struct vma, ulong oldEnd)
    {
        var c = UpperBound(oldEnd - 1);
        if (c.B >= nblocks || !ReferenceEquals(blocks[c.B].Vmas[c.I], vma))
            throw new InvalidOperationException($"VMA {vma} is not in the tree at vm_end 0x{oldEnd:x}");
        var block = blocks[c.B];
        block.Ends[c.I] = vma.vm_end;
        if (c.I == block.N - 1)
            lastEnd[c.B] = vma.vm_end;
    }

    /// <summary>Empties the tree.</summary>
    public void Clear()
    {
        Array.Clear(blocks);
        nblocks = 0;
        count = 0;
    }

    private void InsertBlock(int at, Block block)
    {
        if (nblocks == blocks.Length)
        {
            Array.Resize(ref blocks, blocks.Length * 2);
            Array.Resize(ref lastEnd, lastEnd.Length * 2);
        }
        Array.Copy(blocks, at, blocks, at + 1, nblocks - at);
        Array.Copy(lastEnd, at, lastEnd, at + 1, nblocks - at);
        blocks[at] = block;
        lastEnd[at] = block.N > 0 ? block.Ends[block.N - 1] : 0;
        nblocks++;
    }

    private void RemoveBlock(int at)
    {
        nblocks--;
        Array.Copy(blocks, at + 1, blocks, at, nblocks - at);
        Array.Copy(lastEnd, at + 1, lastEnd, at, nblocks - at);
        blocks[nblocks] = null!;
    }

    private void SplitBlock(int b)
    {
        var left = blocks[b];
        var right = new Block();
        int half = BlockMax / 2;
        right.N = left.N - half;
        Array.Copy(left.Ends, half, right.Ends, 0, right.N);
        Array.Copy(left.Vmas, half, right.Vmas, 0, right.N);
        Array.Clear(left.Vmas, half, right.N);
        left.N = half;
        lastEnd[b] = left.Ends[half - 1];
        InsertBlock(b + 1, right);
    }

    private void MergeBlocks(int b)
    {
        var left = blocks[b];
        var right = blocks[b + 1];
        Array.Copy(right.Ends, 0, left.Ends, left.N, right.N);
        Array.Copy(right.Vmas, 0, left.Vmas, left.N, right.N);
        left.N += right.N;
        lastEnd[b] = left.Ends[left.N - 1];
        RemoveBlock(b + 1);
    }

    /// <summary>Checks the tree's own invariants (for tests): the keys are the VMAs' ends, strictly increasing, leaves non-empty.</summary>
    internal string? Validate()
    {
        ulong prevEnd = 0;
        int n = 0;
        for (int b = 0; b < nblocks; b++)
        {
            var block = blocks[b];
            if (block.N == 0)
                return $"leaf {b} is empty";
            if (lastEnd[b] != block.Ends[block.N - 1])
                return $"root key {b} is 0x{lastEnd[b]:x}, leaf ends at 0x{block.Ends[block.N - 1]:x}";
            for (int i = 0; i < block.N; i++)
            {
                var v = block.Vmas[i];
                if (block.Ends[i] != v.vm_end)
                    return $"key 0x{block.Ends[i]:x} but {v}";
                if (n > 0 && v.vm_start < prevEnd)
                    return $"{v} overlaps or is out of order (previous ends at 0x{prevEnd:x})";
                prevEnd = v.vm_end;
                n++;
            }
        }
        return n == count ? null : $"count {count} but {n} VMAs";
    }
}
