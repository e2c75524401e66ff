// Address-space internals of a student's IAddressSpace: the sorted VMA list of each mm with a slab-allocated private
// record per VMA, split/merge/unmap under mmap_lock and the page-table spinlock, a find_vma cache and VMA ageing.
// Holds sleeping calls and GFP_KERNEL under pt_lock, a leak on a split error, lock leaks, init_mm tests, kthread mm use.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6PVmaBook;

// What the student keeps per mm next to mm.mm_mt.
public sealed class vma_book
{
    public readonly List<vm_area_struct> vmas = new();
    public readonly Dictionary<vm_area_struct, kptr> priv = new();
    public readonly spinlock_t pt_lock = new();     // mm->page_table_lock: rss and the private records
    public readonly rwlock_t cache_lock = new();    // the one-entry lookup cache (_bh: safe against softirq users)
    public vm_area_struct? cached;
    public ulong rss_pages;
    public ulong last_aged;
}

public sealed class R6PVmaBook
{
    private const ulong PRIV_SIZE = 48;
    private const ulong MAPS_REC = 16;

    private readonly Dictionary<mm_struct, vma_book> books = new();
    private readonly work_struct age_work = new();
    private kmem_cache? priv_cache;
    private task_struct? scanner;
    private task_struct? trimmer;
    private ulong scanned_total;
    private ulong trimmed;
    private ulong aged;

    public int vma_book_init()
    {
        priv_cache = kmem_cache_create("vma_priv", PRIV_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (priv_cache == null)
            return -ENOMEM;
        INIT_WORK(age_work, vma_age_work);
        scanner = kthread_run(data =>
        {
            while (!kthread_should_stop())
            {
                if (current.mm == null) // ok: KH6001 (the right test for a kernel thread)
                    scanned_total += current.active_mm?.total_vm ?? 0; // ok: KH6002 (active_mm is what a kernel thread may use)
                else
                    scanned_total += current.mm.total_vm; // ok: KH6002 (this lambda tests current.mm against null first)
                msleep(200); // ok: KH1001 (kernel thread, nothing held)
            }
            return 0;
        }, this, "kvmascand");
        trimmer = kthread_run(vma_trim_thread, this, "kvmatrim");
        return 0;
    }

    private vma_book book_of(mm_struct mm)
    {
        if (!books.TryGetValue(mm, out var book))
            books[mm] = book = new vma_book();
        return book;
    }

    // The index of the first VMA with vm_end > addr (vmas.Count when there is none): find_vma's search.
    private static int first_above(List<vm_area_struct> vmas, ulong addr)
    {
        int i = vmas.FindIndex(v => v.vm_end > addr);
        return i < 0 ? vmas.Count : i;
    }

    public vm_area_struct? find_vma_cached(mm_struct mm, ulong addr)
    {
        var book = book_of(mm);
        read_lock_bh(book.cache_lock);
        var c = book.cached;
        if (c != null && c.vm_start <= addr && addr < c.vm_end)
        {
            read_unlock_bh(book.cache_lock);
            return c; // ok: KH2003 (cache_lock dropped before this early return)
        }
        read_unlock_bh(book.cache_lock); // ok: KH2004 (read_lock_bh paired with read_unlock_bh)
        int i = first_above(book.vmas, addr);
        if (i == book.vmas.Count)
            return null;
        var vma = book.vmas[i];
        write_lock_bh(book.cache_lock);
        book.cached = vma;
        write_unlock_bh(book.cache_lock); // ok: KH2004 (write_lock_bh paired with write_unlock_bh)
        return vma;
    }

    public vm_area_struct? lookup_cached(mm_struct mm, ulong addr)
    {
        var book = book_of(mm);
        read_lock_bh(book.cache_lock);
        var c = book.cached;
        read_unlock(book.cache_lock); // expect: KH2004 (read_lock_bh released with plain read_unlock: bottom halves stay disabled)
        if (c != null && c.vm_start <= addr && addr < c.vm_end)
            return c;
        return vma_lookup(mm, addr);
    }

    // mmap of an anonymous range in the calling task.
    public long sys_map_anon(ulong len, ulong vm_flags)
    {
        if (current.mm == init_mm) // expect: KH6001 (no task's mm is init_mm: the kernel-thread test is current.mm == null)
            return -EINVAL;
        var mm = current.mm!;
        len = PAGE_ALIGN(len);
        mmap_write_lock(mm);
        ulong addr = get_unmapped_area(null, 0, len, 0, MAP_PRIVATE | MAP_ANONYMOUS);
        int err = IS_ERR_VALUE(addr) ? (int)(long)addr : vma_insert_locked(mm, book_of(mm), addr, addr + len, vm_flags);
        mmap_write_unlock(mm);
        return err != 0 ? err : (long)addr;
    }

    // Called with mmap_write_lock held: maps [start, end) as a new VMA (merging is done by merge_adjacent).
    private int vma_insert_locked(mm_struct mm, vma_book book, ulong start, ulong end, ulong vm_flags)
    {
        int i = first_above(book.vmas, start);
        if (mm.map_count >= sysctl_max_map_count)
            return -ENOMEM;
        kptr p = kmem_cache_alloc(priv_cache!, GFP_KERNEL); // ok: KH1002 (only the sleeping mmap_lock is held; nothing atomic)
        if (p == NULL)
            return -ENOMEM; // ok: KH3004 (p is NULL on this path)
        memset(p, 0, PRIV_SIZE);
        var vma = new vm_area_struct { vm_mm = mm, vm_start = start, vm_end = end, vm_flags = vm_flags };
        vma.vm_page_prot = vm_flags & 0xf;
        vma.vm_pgoff = start >> PAGE_SHIFT;
        spin_lock(book.pt_lock);
        book.vmas.Insert(i, vma);
        book.priv[vma] = p;
        book.rss_pages += vma.vma_pages();
        spin_unlock(book.pt_lock);
        mm.map_count++;
        return 0;
    }

    private kptr alloc_priv(gfp_t gfp) => kmem_cache_zalloc(priv_cache!, gfp); // ok: KH1002 (gfp is passed through; the callers are checked instead)

    private void free_priv_locked(vma_book book, vm_area_struct vma)
    {
        if (book.priv.Remove(vma, out kptr p))
            kmem_cache_free(priv_cache!, p); // ok: KH1001 (kmem_cache_free never sleeps; fine under pt_lock)
    }

    // __split_vma: vma keeps [vm_start, addr), a new VMA gets [addr, vm_end). Callers hold only mmap_lock.
    private int split_vma(mm_struct mm, vma_book book, vm_area_struct vma, ulong addr)
    {
        if (addr <= vma.vm_start || addr >= vma.vm_end)
            return -EINVAL;
        kptr np = kmem_cache_alloc(priv_cache!, GFP_KERNEL); // ok: KH1002 (no spinlock is held yet; mmap_lock sleeps)
        if (np == NULL)
            return -ENOMEM; // ok: KH3004 (np is NULL on this path)
        if (mm.map_count >= sysctl_max_map_count)
            return -ENOMEM; // expect: KH3004 (np is neither freed nor stored when the map-count limit is hit)
        memset(np, 0, PRIV_SIZE);
        var upper = new vm_area_struct { vm_mm = mm, vm_start = addr, vm_end = vma.vm_end, vm_flags = vma.vm_flags };
        upper.vm_page_prot = vma.vm_page_prot;
        upper.vm_pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT);
        upper.vm_file = vma.vm_file;
        upper.vm_ops = vma.vm_ops;
        spin_lock(book.pt_lock);
        vma.vm_end = addr;
        book.vmas.Insert(book.vmas.IndexOf(vma) + 1, upper);
        book.priv[upper] = np;
        spin_unlock(book.pt_lock);
        mm.map_count++;
        return 0;
    }

    // vma_merge for two adjacent compatible VMAs: next is folded into prev, which gets a fresh record.
    public int merge_adjacent(mm_struct mm, vm_area_struct prev)
    {
        var book = book_of(mm);
        int i = book.vmas.IndexOf(prev);
        if (i < 0 || i + 1 >= book.vmas.Count)
            return -ENOENT;
        var next = book.vmas[i + 1];
        if (next.vm_start != prev.vm_end || next.vm_flags != prev.vm_flags || next.vm_ops?.close != null)
            return -EINVAL;
        spin_lock(book.pt_lock);
        kptr merged = alloc_priv(GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating helper while pt_lock is held)
        if (merged == NULL)
        {
            spin_unlock(book.pt_lock);
            return -ENOMEM;
        }
        prev.vm_end = next.vm_end;
        book.vmas.RemoveAt(i + 1);
        free_priv_locked(book, prev);
        free_priv_locked(book, next);
        book.priv[prev] = merged;
        spin_unlock(book.pt_lock);
        mm.map_count--;
        return 0;
    }

    // munmap of [start, start+len): splits the first VMA, then removes the VMAs that lie inside.
    public int unmap_range(mm_struct mm, ulong start, ulong len)
    {
        if (offset_in_page(start) != 0 || len == 0)
            return -EINVAL;
        ulong end = start + PAGE_ALIGN(len);
        var book = book_of(mm);
        int err = 0;
        mmap_write_lock(mm);
        var first = find_vma(mm, start);
        if (first == null || first.vm_start >= end)
            goto out_unlock;
        if (start > first.vm_start)
        {
            err = split_vma(mm, book, first, start);
            if (err != 0)
                goto out_unlock; // ok: KH2003 (goto-style shared exit releases mmap_lock)
        }
        var doomed = new List<vm_area_struct>();
        foreach (var vma in book.vmas)
            if (vma.vm_start >= start && vma.vm_end <= end)
                doomed.Add(vma);
        spin_lock(book.pt_lock); // expect: KH2003 (the -EPERM return for a VM_LOCKED VMA leaves pt_lock held)
        foreach (var vma in doomed)
        {
            if ((vma.vm_flags & VM_LOCKED) != 0)
            {
                mmap_write_unlock(mm);
                return -EPERM;
            }
            book.vmas.Remove(vma);
            book.rss_pages -= vma.vma_pages();
            free_priv_locked(book, vma);
            mm.map_count--;
        }
        spin_unlock(book.pt_lock);
    out_unlock:
        mmap_write_unlock(mm);
        return err;
    }

    // /proc/PID/maps in binary: one (start, end) record per VMA.
    public int dump_maps(mm_struct mm, ulong ubuf, ulong ulen)
    {
        var book = book_of(mm);
        kptr rec = kmalloc(MAPS_REC, GFP_KERNEL);
        if (rec == NULL)
            return -ENOMEM;
        if (book.vmas.Count == 0)
            return -ENOENT; // expect: KH3004 (rec is neither freed nor stored when the mm has no VMA)
        ulong off = 0;
        int err = 0;
        mmap_read_lock(mm); // ok: KH1001 (the sleeping mmap_lock is taken before pt_lock, not under it)
        spin_lock(book.pt_lock);
        foreach (var vma in book.vmas)
        {
            if (off + MAPS_REC > ulen)
                break;
            ptr_ref<ulong>(rec) = vma.vm_start;
            ptr_ref<ulong>(rec + 8) = vma.vm_end;
            if (copy_to_user(ubuf + off, rec, MAPS_REC) != 0) // expect: KH1001 (copy_to_user may fault and sleep; pt_lock is held)
            {
                err = -EFAULT;
                break;
            }
            off += MAPS_REC;
        }
        spin_unlock(book.pt_lock);
        mmap_read_unlock(mm);
        kfree(rec);
        if (err != 0)
            return err; // ok: KH3004 (rec was freed just above)
        return (int)(off / MAPS_REC);
    }

    public ulong rss_snapshot(mm_struct mm)
    {
        var book = book_of(mm);
        ulong pages = 0;
        spin_lock(book.pt_lock);
        mmap_read_lock(mm); // expect: KH1001 (mmap_read_lock sleeps; pt_lock is held)
        foreach (var vma in book.vmas)
            if ((vma.vm_flags & VM_SHARED) == 0)
                pages += vma.vma_pages();
        mmap_read_unlock(mm);
        spin_unlock(book.pt_lock);
        return pages;
    }

    // The mm is going away: drop its private records and the user reference the book held.
    public void book_release(mm_struct mm)
    {
        if (!books.TryGetValue(mm, out var book))
            return;
        spin_lock(book.pt_lock);
        foreach (var p in book.priv.Values)
            kmem_cache_free(priv_cache!, p);
        book.priv.Clear();
        book.vmas.Clear();
        mmput(mm); // expect: KH1001 (mmput may tear the address space down and sleep; pt_lock is held)
        spin_unlock(book.pt_lock);
        books.Remove(mm);
    }

    public static bool walks_kernel_tables(mm_struct mm) => mm == init_mm; // ok: KH6001 (an mm_struct parameter compared with init_mm)

    public int account_fault(ulong addr)
    {
        if (current.mm != init_mm) // expect: KH6001 (current.mm != init_mm is always true; the test is current.mm != null)
        {
            var vma = find_vma_cached(current.mm!, addr);
            if (vma == null || vma.vm_start > addr)
                return -EFAULT;
            return 0;
        }
        if (current.active_mm == init_mm) // ok: KH6001 (active_mm may legitimately be init_mm for a lazy-TLB kernel thread)
            return -EFAULT;
        return 0;
    }

    // Work item: ages the VMAs of every book every few seconds.
    private void vma_age_work(work_struct w)
    {
        ulong total = current.mm.total_vm; // expect: KH6002 (a work item runs in a kworker whose current.mm is NULL)
        foreach (var book in books.Values)
        {
            if (book.last_aged + 5 * HZ < jiffies) // expect: KH5001 (raw < between a time derived from last_aged and jiffies)
            {
                aged += book.rss_pages;
                book.last_aged = jiffies;
            }
        }
        aged += total >> 10;
    }

    private int vma_trim_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            trimmed += heap_pages();
            msleep(500);
        }
        return 0;
    }

    private ulong heap_pages() => current.mm.brk >> PAGE_SHIFT; // expect: KH6002 (reached from vma_trim_thread, a kthread_run threadfn, with no NULL check)

    // brk accounting for the calling task (system-call path only).
    public ulong sys_heap_pages() => (current.mm.brk - current.mm.start_brk) >> PAGE_SHIFT; // ok: KH6002 (system-call path, not reachable from a kernel thread or work item)
}
