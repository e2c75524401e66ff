// /dev/vmasnap: snapshots an address space's VMAs into kernel buffers (slab records, vmalloc'd tables, pages)
// for ioctls and a rebuild work item. Holds mismatched frees (KH3001), error-path leaks (KH3004), init_mm and
// current.mm mistakes in work-item and kernel-thread code (KH6001/KH6002) and a few sandbox escapes (KH9001).
using System;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R4KVmaSnapshot;

public struct vma_entry
{
    public ulong start;
    public ulong end;
    public ulong flags;
    public ulong pgoff;
}

// The student's own printf-style shim: forwards to printk, it is not System.Console.
internal static class Console
{
    public static void WriteLine(string msg) => printk(KERN_INFO + msg + "\n");
}

public sealed class VmaSnapshot
{
    private const ulong ENTRY_SIZE = 32;
    private const ulong HDR_SIZE = 64;
    private const int MAX_ENTRIES = 1024;

    private readonly mutex snap_lock = new();
    private readonly work_struct rebuild_work = new();
    private readonly work_struct verify_work = new();
    private kmem_cache? rec_cache;
    private kptr global_table = NULL;
    private ulong global_count;
    private kptr watch_note = NULL;
    private mm_struct? watched;
    private task_struct? prefetcher;
    private task_struct? stats;
    private ulong last_stamp;
    private ulong peak_vm;
    private int rebuilds;

    public int init()
    {
        rec_cache = kmem_cache_create("vmasnap_rec", ENTRY_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (rec_cache == null)
            return -ENOMEM;
        INIT_WORK(rebuild_work, rebuild_worker);
        INIT_WORK(verify_work, verify_worker);
        prefetcher = kthread_run(data =>
        {
            System.Console.WriteLine("vmasnap: prefetcher up"); // expect: KH9001 (a lambda registered with kthread_run calls System.Console)
            while (!kthread_should_stop())
                msleep(50);
            return 0;
        }, null, "vmasnap_pf");
        stats = kthread_run(stats_thread, this, "vmasnap_stats");
        Console.WriteLine("vmasnap: loaded"); // ok: KH9001 does not apply, the student's own Console shim, not System.Console
        return 0;
    }

    public void exit()
    {
        if (prefetcher != null)
            kthread_stop(prefetcher);
        if (stats != null)
            kthread_stop(stats);
        cancel_work_sync(rebuild_work);
        cancel_work_sync(verify_work);
        mutex_lock(snap_lock);
        vfree(global_table);
        global_table = NULL;
        global_count = 0;
        kvfree(watch_note);
        watch_note = NULL;
        if (watched != null)
            mmput(watched);
        watched = null;
        mutex_unlock(snap_lock);
        if (rec_cache != null)
            kmem_cache_destroy(rec_cache);
    }

    private static void fill_entry(kptr slot, vm_area_struct vma)
    {
        ref vma_entry e = ref ptr_ref<vma_entry>(slot);
        e.start = vma.vm_start;
        e.end = vma.vm_end;
        e.flags = vma.vm_flags;
        e.pgoff = vma.vm_pgoff;
    }

    private static int snapshot_into(mm_struct mm, kptr table, int max)
    {
        if (mm.map_count == 0) // ok: KH6002 does not apply, an mm passed in by the caller, not current.mm
            return 0;
        int n = 0;
        mmap_read_lock(mm);
        for (var vma = find_vma(mm, 0); vma != null && n < max; vma = find_vma(mm, vma.vm_end))
        {
            fill_entry(table + (ulong)n * ENTRY_SIZE, vma);
            n++;
        }
        mmap_read_unlock(mm);
        return n;
    }

    private int count_current_vmas()
    {
        return current.mm!.map_count; // expect: KH6002 (also reached from rebuild_worker, a work item; no null test here)
    }

    // ioctl VMASNAP_ALL: process context on behalf of the calling task.
    public long sys_snapshot(ulong ubuf, int max)
    {
        bool kernel_caller = current.mm == init_mm; // expect: KH6001 (always false; a kernel caller has mm == null)
        if (kernel_caller || max <= 0 || max > MAX_ENTRIES)
            return -EINVAL;
        int want = Math.Min(count_current_vmas(), max); // ok: KH9001 does not apply, System.Math is allowlisted
        kptr hdr = kmalloc(HDR_SIZE, GFP_KERNEL);
        if (hdr == NULL)
            return -ENOMEM; // ok: KH3004 does not apply, nothing is allocated yet on this path
        kptr table = vmalloc((ulong)Math.Max(want, 1) * ENTRY_SIZE);
        if (table == NULL)
            return -ENOMEM; // expect: KH3004 (hdr from kmalloc leaks on this error path)
        int n = snapshot_into(current.mm!, table, want);
        memset(hdr, 0, HDR_SIZE);
        ptr_ref<ulong>(hdr) = (ulong)n;
        if (copy_to_user(ubuf, hdr, 8) != 0)
        {
            kfree(hdr);
            return -EFAULT; // expect: KH3004 (table from vmalloc leaks on this error path)
        }
        if (copy_to_user(ubuf + 8, table, (ulong)n * ENTRY_SIZE) != 0)
        {
            kfree(hdr);
            vfree(table);
            return -EFAULT; // ok: KH3004 does not apply, both buffers freed before returning
        }
        kfree(hdr); // ok: KH3001 does not apply, kmalloc memory freed with kfree
        kfree(table); // expect: KH3001 (vmalloc memory freed with kfree)
        return n;
    }

    // ioctl VMASNAP_ONE: the VMA containing addr.
    public int sys_snapshot_one(ulong addr, ulong ubuf)
    {
        if (current.mm == null) // ok: KH6001 does not apply, the correct user-context test
            return -EINVAL;
        kptr rec = kmem_cache_alloc(rec_cache!, GFP_KERNEL);
        if (rec == NULL)
            return -ENOMEM;
        mm_struct mm = current.mm;
        mmap_read_lock(mm);
        var vma = vma_lookup(mm, addr);
        if (vma == null)
        {
            mmap_read_unlock(mm);
            kmem_cache_free(rec_cache!, rec); // ok: KH3001 does not apply, freed to the cache it came from
            return -ENOENT; // ok: KH3004 does not apply, the record is freed first
        }
        fill_entry(rec, vma);
        mmap_read_unlock(mm);
        ulong left = copy_to_user(ubuf, rec, ENTRY_SIZE);
        kfree(rec); // expect: KH3001 (kmem_cache_alloc object freed with kfree)
        return left != 0 ? -EFAULT : 0;
    }

    // ioctl VMASNAP_RANGE: VMAs intersecting [start, end).
    public long sys_snapshot_range(ulong start, ulong end, ulong ubuf)
    {
        if (current.mm is null) // ok: KH6001 does not apply, the correct test written as a pattern
            return -EINVAL;
        if (end <= start)
            return -EINVAL;
        kptr ents = kvmalloc(MAX_ENTRIES * ENTRY_SIZE, GFP_KERNEL);
        if (ents == NULL)
            return -ENOMEM; // ok: KH3004 does not apply, the allocation itself failed
        kptr tags = kcalloc(MAX_ENTRIES, 8, GFP_KERNEL);
        if (tags == NULL)
        {
            kvfree(ents); // ok: KH3001 does not apply, kvmalloc memory freed with kvfree
            return -ENOMEM; // ok: KH3004 does not apply, ents freed before returning
        }
        mm_struct mm = current.mm;
        int n = 0;
        mmap_read_lock(mm);
        for (var vma = find_vma_intersection(mm, start, end); vma != null && vma.vm_start < end && n < MAX_ENTRIES; vma = find_vma(mm, vma.vm_end))
        {
            fill_entry(ents + (ulong)n * ENTRY_SIZE, vma);
            ptr_ref<ulong>(tags + (ulong)n * 8) = vma.vm_pgoff;
            n++;
        }
        mmap_read_unlock(mm);
        ulong left = copy_to_user(ubuf, ents, (ulong)n * ENTRY_SIZE);
        kfree(tags); // ok: KH3001 does not apply, kcalloc memory freed with kfree
        kvfree(ents);
        return left != 0 ? -EFAULT : n;
    }

    // ioctl VMASNAP_RAW: copies the last global snapshot through a two-page bounce buffer.
    public int sys_dump_raw(ulong ubuf)
    {
        ulong pages = __get_free_pages(GFP_KERNEL, 1);
        if (pages == 0)
            return -ENOMEM;
        kptr label = kmalloc(64, GFP_KERNEL);
        if (label == NULL)
        {
            free_pages(pages, 1); // ok: KH3001 does not apply, freed with the order it was allocated with
            return -ENOMEM; // ok: KH3004 does not apply, the pages are freed first
        }
        memset(label, 0, 64);
        mutex_lock(snap_lock);
        ulong bytes = Math.Min(global_count * ENTRY_SIZE, 2 * PAGE_SIZE);
        if (global_table != NULL)
            memcpy((kptr)pages, global_table, bytes);
        mutex_unlock(snap_lock);
        ulong left = copy_to_user(ubuf, (kptr)pages, bytes);
        vfree(label); // expect: KH3001 (kmalloc memory freed with vfree)
        free_pages(pages, 0); // expect: KH3001 (order-1 allocation freed with order 0)
        return left != 0 ? -EFAULT : (int)bytes;
    }

    // ioctl VMASNAP_WATCH: remember the caller's address space for the rebuild work item.
    public int sys_watch_caller()
    {
        kptr note = kzalloc(HDR_SIZE, GFP_KERNEL);
        if (note == NULL)
            return -ENOMEM;
        if (current.mm == null) // ok: KH6001 does not apply, the correct user-context test
            return -EINVAL; // expect: KH3004 (note from kzalloc leaks when the caller has no mm)
        mm_struct mm = current.mm;
        ptr_ref<ulong>(note) = (ulong)current.pid;
        mutex_lock(snap_lock);
        kvfree(watch_note);
        watch_note = note;
        if (watched != null)
        {
            mutex_unlock(snap_lock);
            return -EBUSY; // ok: KH3004 does not apply, note was handed to the watch_note field
        }
        mmget(mm);
        watched = mm;
        mutex_unlock(snap_lock);
        schedule_work(rebuild_work);
        return 0;
    }

    private void rebuild_worker(work_struct work)
    {
        if (init_mm == current.mm) // expect: KH6001 (init_mm compared with current.mm, operands reversed)
            return;
        int want = Math.Min(count_current_vmas(), MAX_ENTRIES);
        var mm = watched;
        if (mm == null || want == 0)
            return;
        kptr table = vzalloc((ulong)want * ENTRY_SIZE);
        if (table == NULL)
            return;
        int n = snapshot_into(mm, table, want);
        mutex_lock(snap_lock);
        kptr old = global_table;
        global_table = table;
        global_count = (ulong)n;
        rebuilds++;
        mutex_unlock(snap_lock);
        vfree(old);
        last_stamp = jiffies; // ok: KH9001 does not apply, jiffies instead of a wall clock
        schedule_work(verify_work);
    }

    private void verify_worker(work_struct work)
    {
        bool in_kthread = (current.flags & PF_KTHREAD) != 0; // ok: KH6001 does not apply, PF_KTHREAD is a reliable kernel-thread test
        ulong brk_now = current.mm?.brk ?? 0; // ok: KH6002 does not apply, null-conditional access
        int bad = 0;
        mutex_lock(snap_lock);
        for (ulong i = 1; i < global_count; i++)
        {
            ref vma_entry prev = ref ptr_ref<vma_entry>(global_table + (i - 1) * ENTRY_SIZE);
            ref vma_entry cur = ref ptr_ref<vma_entry>(global_table + i * ENTRY_SIZE);
            if (cur.start < prev.end)
                bad++;
        }
        mutex_unlock(snap_lock);
        if (bad != 0)
            pr_warn($"vmasnap: {bad} overlapping entries (kthread={in_kthread}, brk={brk_now:x})\n");
    }

    private int stats_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            ulong vm = current.mm!.total_vm; // expect: KH6002 (kernel thread reads current.mm and never tests it against null)
            peak_vm = Math.Max(peak_vm, vm);
            last_stamp = (ulong)Environment.TickCount64; // expect: KH9001 (Environment is refused; use jiffies)
            msleep(1000);
        }
        return 0;
    }

    public void save_debug()
    {
        mutex_lock(snap_lock);
        ulong count = global_count;
        mutex_unlock(snap_lock);
        System.IO.File.WriteAllText("/tmp/vmasnap.txt", $"{count} entries\n"); // expect: KH9001 (file I/O)
        Console.WriteLine($"vmasnap: {count} entries, {rebuilds} rebuilds"); // ok: KH9001 does not apply, the student's own Console shim
    }

    private int export_snapshot(System.Net.Sockets.Socket? peer, ulong count) // expect: KH9001 (parameter of a network type)
    {
        pr_warn($"vmasnap: network export of {count} entries not supported\n");
        return -ENOSYS;
    }
}
