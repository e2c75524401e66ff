using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Uaccess;

/// <summary>
/// copy_from_user and friends (include/linux/uaccess.h): user addresses of <c>current.mm</c> are
/// valid where a VMA with the right permission covers them; their bytes live in a per-mm store
/// (page tables and faults are a later assignment).
/// </summary>
public sealed class ReferenceUserAccess : IUserAccess
{
    private readonly ConditionalWeakTable<mm_struct, Dictionary<ulong, byte[]>> userPages = new();

    private static Machine M => Machine.Current;

    private bool Transfer(ulong user, Span<byte> kernel, bool toUser)
    {
        var m = M;
        var mm = m.CurrentTask.mm;
        if (mm is null)
            return false;
        var pages = userPages.GetOrCreateValue(mm);
        int done = 0;
        while (done < kernel.Length)
        {
            ulong addr = user + (ulong)done;
            var vma = m.AddressSpace?.find_vma(mm, addr);
            if (vma is null || vma.vm_start > addr || (vma.vm_flags & (toUser ? VM_WRITE : VM_READ)) == 0)
                return false;
            ulong pageAddr = addr & PAGE_MASK;
            if (!pages.TryGetValue(pageAddr, out var data))
            {
                data = new byte[PAGE_SIZE];
                pages[pageAddr] = data;
            }
            int offset = (int)(addr - pageAddr);
            int n = Math.Min(kernel.Length - done, (int)PAGE_SIZE - offset);
            if (toUser)
                kernel.Slice(done, n).CopyTo(data.AsSpan(offset, n));
            else
                data.AsSpan(offset, n).CopyTo(kernel.Slice(done, n));
            done += n;
        }
        return true;
    }

    public ulong copy_from_user(kptr to, ulong from, ulong n)
    {
        if (n == 0)
            return 0;
        var buffer = new byte[n];
        if (!Transfer(from, buffer, toUser: false))
            return n;
        buffer.CopyTo(ptr_span(to, n));
        return 0;
    }

    public ulong copy_to_user(ulong to, kptr from, ulong n)
    {
        if (n == 0)
            return 0;
        var buffer = ptr_span(from, n).ToArray();
        return Transfer(to, buffer, toUser: true) ? 0 : n;
    }

    public int get_user<T>(out T x, ulong ptr) where T : unmanaged
    {
        x = default;
        var bytes = MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref x, 1));
        return Transfer(ptr, bytes, toUser: false) ? 0 : -EFAULT;
    }

    public int put_user<T>(T x, ulong ptr) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref x, 1));
        return Transfer(ptr, bytes, toUser: true) ? 0 : -EFAULT;
    }
}
