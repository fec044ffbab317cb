select
    customer_id,
    
  
    sum(
      
      case
      when status = 'placed'
        then 1
      else 0
      end
    )
    
      
            as "placed"
      
    
    ,
  
    sum(
      
      case
      when status = 'returned'
        then 1
      else 0
      end
    )
    
      
            as "returned"
      
    
    ,
  
    sum(
      
      case
      when status = 'shipped'
        then 1
      else 0
      end
    )
    
      
            as "shipped"
      
    
    
  

from "pkgs"."main"."orders"
group by customer_id