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

    // Leaf b: keys ends[b][0..counts[b]), VMAs vmas[b][0..counts[b]). Parallel jagged arrays rather than
    // leaf objects: one indirection less on the lookup path.
    private ulong[][] ends = new ulong[4][];
    private vm_area_struct[][] vmas = new vm_area_struct[4][];
    private int[] counts = new int[4];
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
        return c.B < nblocks ? vmas[c.B][c.I] : null;
    }

    /// <summary>The cursor at the first VMA with <c>vm_end &gt; addr</c> (past the end when none).</summary>
    public Cursor UpperBound(ulong addr)
    {
        var root = lastEnd;
        int lo = 0, hi = nblocks;
        while (lo < hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (root[mid] > addr)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo == nblocks)
            return new Cursor { B = lo, I = 0 };
        var keys = ends[lo];
        int l = 0, h = counts[lo] - 1; // the last key is > addr, so the answer is in [0, N-1]
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
    public vm_area_struct? At(Cursor c) => c.B >= 0 && c.B < nblocks ? vmas[c.B][c.I] : null;

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
            c.I = counts[c.B] - 1;
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
        c.I = counts[c.B] - 1;
        return true;
    }

    /// <summary>Moves to the next VMA; false when past the end.</summary>
    public bool MoveNext(ref Cursor c)
    {
        if (c.B >= nblocks)
            return false;
        if (++c.I < counts[c.B])
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
    public vm_area_struct? First => nblocks == 0 ? null : vmas[0][0];

    /// <summary>The highest VMA, or null.</summary>
    public vm_area_struct? Last => nblocks == 0 ? null : vmas[nblocks - 1][counts[nblocks - 1] - 1];

    /// <summary>Every VMA in address order (a snapshot: safe to change the tree while walking it).</summary>
    public List<vm_area_struct> ToList()
    {
        var list = new List<vm_area_struct>(count);
        for (int b = 0; b < nblocks; b++)
        {
            for (int i = 0; i < counts[b]; i++)
                list.Add(vmas[b][i]);
        }
        return list;
    }

    // ---- Changes ----

    /// <summary>Inserts a VMA that overlaps none in the tree.</summary>
    public void Insert(vm_area_struct vma)
    {
        ulong key = vma.vm_end;
        if (nblocks == 0)
            InsertBlock(0, new ulong[BlockMax], new vm_area_struct[BlockMax], 0);
        var c = UpperBound(key);
        if (c.B == nblocks)
        {
            // Above every VMA: append to the last leaf.
            c.B = nblocks - 1;
            c.I = counts[c.B];
        }
        if (counts[c.B] == BlockMax)
        {
            SplitBlock(c.B);
            if (c.I > BlockMax / 2)
            {
                c.B++;
                c.I -= BlockMax / 2;
            }
        }
        var keys = ends[c.B];
        var leaf = vmas[c.B];
        int n = counts[c.B];
        Array.Copy(keys, c.I, keys, c.I + 1, n - c.I);
        Array.Copy(leaf, c.I, leaf, c.I + 1, n - c.I);
        keys[c.I] = key;
        leaf[c.I] = vma;
        counts[c.B] = ++n;
        lastEnd[c.B] = keys[n - 1];
        count++;
    }

    /// <summary>Removes a VMA (looked up by its current <c>vm_end</c>); false when it is not in the tree.</summary>
    public bool Remove(vm_area_struct vma)
    {
        var c = UpperBound(vma.vm_end - 1);
        if (c.B >= nblocks || !ReferenceEquals(vmas[c.B][c.I], vma))
            return false;
        var keys = ends[c.B];
        var leaf = vmas[c.B];
        int n = --counts[c.B];
        Array.Copy(keys, c.I + 1, keys, c.I, n - c.I);
        Array.Copy(leaf, c.I + 1, leaf, c.I, n - c.I);
        leaf[n] = null!;
        count--;
        if (n == 0)
        {
            RemoveBlock(c.B);
            return true;
        }
        lastEnd[c.B] = keys[n - 1];
        // Keep leaves reasonably full: merge with a neighbour when both fit in half a leaf.
        if (c.B + 1 < nblocks && n + counts[c.B + 1] <= BlockMax / 2)
            MergeBlocks(c.B);
        else if (c.B > 0 && n + counts[c.B - 1] <= BlockMax / 2)
            MergeBlocks(c.B - 1);
        return true;
    }

    /// <summary>Records that <paramref name="vma"/>'s <c>vm_end</c> changed from <paramref name="oldEnd"/> (it must still not overlap its neighbours).</summary>
    public void UpdateEnd(vm_area_struct vma, ulong oldEnd)
    {
        var c = UpperBound(oldEnd - 1);
        if (c.B >= nblocks || !ReferenceEquals(vmas[c.B][c.I], vma))
            throw new InvalidOperationException($"VMA {vma} is not in the tree at vm_end 0x{oldEnd:x}");
        ends[c.B][c.I] = vma.vm_end;
        if (c.I == counts[c.B] - 1)
            lastEnd[c.B] = vma.vm_end;
    }

    /// <summary>Empties the tree.</summary>
    public void Clear()
    {
        Array.Clear(ends);
        Array.Clear(vmas);
        Array.Clear(counts);
        nblocks = 0;
        count = 0;
    }

    private void InsertBlock(int at, ulong[] keys, vm_area_struct[] leaf, int n)
    {
        if (nblocks == ends.Length)
        {
            int size = ends.Length * 2;
            Array.Resize(ref ends, size);
            Array.Resize(ref vmas, size);
            Array.Resize(ref counts, size);
            Array.Resize(ref lastEnd, size);
        }
        Array.Copy(ends, at, ends, at + 1, nblocks - at);
        Array.Copy(vmas, at, vmas, at + 1, nblocks - at);
        Array.Copy(counts, at, counts, at + 1, nblocks - at);
        Array.Copy(lastEnd, at, lastEnd, at + 1, nblocks - at);
        ends[at] = keys;
        vmas[at] = leaf;
        counts[at] = n;
        lastEnd[at] = n > 0 ? keys[n - 1] : 0;
        nblocks++;
    }

    private void RemoveBlock(int at)
    {
        nblocks--;
        Array.Copy(ends, at + 1, ends, at, nblocks - at);
        Array.Copy(vmas, at + 1, vmas, at, nblocks - at);
        Array.Copy(counts, at + 1, counts, at, nblocks - at);
        Array.Copy(lastEnd, at + 1, lastEnd, at, nblocks - at);
        ends[nblocks] = null!;
        vmas[nblocks] = null!;
        counts[nblocks] = 0;
    }

    private void SplitBlock(int b)
    {
        int half = BlockMax / 2;
        int rightN = counts[b] - half;
        var rightKeys = new ulong[BlockMax];
        var rightLeaf = new vm_area_struct[BlockMax];
        Array.Copy(ends[b], half, rightKeys, 0, rightN);
        Array.Copy(vmas[b], half, rightLeaf, 0, rightN);
        Array.Clear(vmas[b], half, rightN);
        counts[b] = half;
        lastEnd[b] = ends[b][half - 1];
        InsertBlock(b + 1, rightKeys, rightLeaf, rightN);
    }

    private void MergeBlocks(int b)
    {
        int n = counts[b], m = counts[b + 1];
        Array.Copy(ends[b + 1], 0, ends[b], n, m);
        Array.Copy(vmas[b + 1], 0, vmas[b], n, m);
        counts[b] = n + m;
        lastEnd[b] = ends[b][n + m - 1];
        RemoveBlock(b + 1);
    }

    /// <summary>Checks the tree's own invariants (for tests): the keys are the VMAs' ends, strictly increasing, leaves non-empty.</summary>
    internal string? Validate()
    {
        ulong prevEnd = 0;
        int total = 0;
        for (int b = 0; b < nblocks; b++)
        {
            int n = counts[b];
            if (n == 0)
                return $"leaf {b} is empty";
            if (lastEnd[b] != ends[b][n - 1])
                return $"root key {b} is 0x{lastEnd[b]:x}, leaf ends at 0x{ends[b][n - 1]:x}";
            for (int i = 0; i < n; i++)
            {
                var v = vmas[b][i];
                if (ends[b][i] != v.vm_end)
                    return $"key 0x{ends[b][i]:x} but {v}";
                if (total > 0 && v.vm_start < prevEnd)
                    return $"{v} overlaps or is out of order (previous ends at 0x{prevEnd:x})";
                prevEnd = v.vm_end;
                total++;
            }
        }
        return total == count ? null : $"count {count} but {total} VMAs";
    }
}
